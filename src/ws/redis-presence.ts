/**
 * Cluster presence as Redis keeps it: per room a hash of `<instance>:<user id>` → user, an index of
 * rooms with anyone in them, and the live instances by heartbeat time. Counting takes only live
 * instances, so a crashed instance's users stop counting when its heartbeats stop.
 */
import type { RedisClient } from 'bun'
import type { User } from '../protocol.ts'

const INSTANCES_KEY = 'chat:instances'
const ROOMS_KEY = 'chat:presence-rooms'
const presenceKey = (room: string) => `chat:presence:${room}`

/**
 * Drops a room from the presence index only if its hash is still empty: checked and removed in one
 * step, so a user joining meanwhile (HSET, then SADD) never leaves the index without their room.
 */
const FORGET_EMPTY_ROOM = "if redis.call('HLEN', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end return 0"

/** Distinct users among presence fields (`<instance>:<user id>`), counting live instances only. */
function countLive(fields: string[], live: Set<string>): number {
  const users = new Set<string>()
  for (const field of fields) {
    const cut = field.lastIndexOf(':')
    if (live.has(field.slice(0, cut))) users.add(field.slice(cut + 1))
  }
  return users.size
}

export interface RedisPresence {
  /** This instance's presence of `user` in `room`. */
  write(room: string, user: User, present: boolean): Promise<void>
  /** Who other live instances have in `room`. */
  read(room: string): Promise<{ instance: string; user: User }[]>
  /** Proves this instance alive; returns the live instances. */
  heartbeat(): Promise<Set<string>>
  /** This instance is leaving the cluster. */
  withdraw(): Promise<void>
  occupiedRooms(): Promise<{ name: string; members: number }[]>
  countMembers(rooms: string[]): Promise<number[]>
}

export function createRedisPresence(redis: RedisClient, instanceId: string, instanceTtlMs: number): RedisPresence {
  async function liveInstances(): Promise<Set<string>> {
    const ids: string[] = await redis.send('ZRANGEBYSCORE', [INSTANCES_KEY, String(Date.now() - instanceTtlMs), '+inf'])
    return new Set(ids)
  }

  /** Each room's presence fields, read in one pipelined round trip (Bun's client pipelines a tick's commands). */
  function fieldsOf(rooms: string[]): Promise<string[][]> {
    return Promise.all(rooms.map((room) => redis.send('HKEYS', [presenceKey(room)]) as Promise<string[]>))
  }

  return {
    async write(room, user, present) {
      const field = `${instanceId}:${user.id}`
      if (present) {
        await redis.send('HSET', [presenceKey(room), field, JSON.stringify(user)])
        await redis.send('SADD', [ROOMS_KEY, room])
      } else {
        await redis.send('HDEL', [presenceKey(room), field])
      }
    },
    async read(room) {
      const live = await liveInstances()
      const fields: Record<string, string> = (await redis.send('HGETALL', [presenceKey(room)])) ?? {}
      return Object.entries(fields)
        .map(([field, value]) => ({ instance: field.slice(0, field.lastIndexOf(':')), user: JSON.parse(value) as User }))
        .filter(({ instance }) => instance !== instanceId && live.has(instance))
    },
    async heartbeat() {
      const now = Date.now()
      await redis.send('ZADD', [INSTANCES_KEY, String(now), instanceId])
      const live = await liveInstances()
      // Long-dead entries only take space; any instance may drop them.
      await redis.send('ZREMRANGEBYSCORE', [INSTANCES_KEY, '-inf', String(now - 10 * instanceTtlMs)])
      return live
    },
    async withdraw() {
      await redis.send('ZREM', [INSTANCES_KEY, instanceId])
    },
    async occupiedRooms() {
      const rooms: string[] = await redis.send('SMEMBERS', [ROOMS_KEY])
      const [live, fields] = await Promise.all([liveInstances(), fieldsOf(rooms)])
      const out: { name: string; members: number }[] = []
      rooms.forEach((room, i) => {
        const members = countLive(fields[i]!, live)
        if (members > 0) out.push({ name: room, members })
        else if (fields[i]!.length === 0) void redis.send('EVAL', [FORGET_EMPTY_ROOM, '2', presenceKey(room), ROOMS_KEY, room]).catch(() => {})
      })
      return out
    },
    async countMembers(rooms) {
      const [live, fields] = await Promise.all([liveInstances(), fieldsOf(rooms)])
      return fields.map((f) => countLive(f, live))
    },
  }
}
