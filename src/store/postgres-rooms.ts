/**
 * The PostgreSQL store's rooms and memberships (spec §6), and the unread counters that the message
 * writer moves in its transaction (store/rooms.ts says how the counters work). Instances write at
 * once under READ COMMITTED, so whatever reads a room's counters or members to change them takes the
 * room's advisory lock, the one the message writer holds while it commits (postgres-stream.ts): a
 * marker's recount never interleaves with a message, and a member removed is never mentioned by a
 * message committing at the same time.
 */
import { sql, type SQL } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import type * as schema from '../../db/schema.pg.ts'
import type { User } from '../protocol.ts'
import type { Actor } from './accounts.ts'
import { guard, LOCK_CLASS } from './postgres-connection.ts'
import type { MembershipRow, RoomStore, Visibility } from './rooms.ts'
import { toMessage, type MessageRow } from './stream.ts'

type Db = BunSQLDatabase<typeof schema>
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
/** The database or a transaction: whatever runs a query. */
type Runner = Pick<Tx, 'execute'>

// Bun's driver hands bigint columns back as strings: every id and count read here goes through Number.
type Row = Record<string, string | number | boolean | null>
const rows = async (run: Runner, query: SQL) => (await run.execute(query)) as unknown as Row[]
const num = (value: unknown) => Number(value)
const toUser = (row: Row): User => ({ id: num(row.id), username: String(row.username) })

/** A JSON parameter (cast from text: a parameter typed json would be sent as a JSON string). */
const json = (value: unknown) => sql`${JSON.stringify(value)}::text::json`
const idsIn = (list: number[]) => sql`(SELECT value::bigint FROM json_array_elements_text(${json(list)}))`

/** Takes the room's lock for the rest of the transaction; the key is the message writer's. */
const lockRoom = (tx: Runner, room: string) => tx.execute(sql`SELECT pg_advisory_xact_lock(${LOCK_CLASS}, hashtext(${room}))`)

/**
 * Each list of `mentions` cut to those who can read the room: everyone in a public room, the members
 * of a private one (one query for the lot). Called by the writer, under the room's lock.
 */
export async function keepReaders(tx: Runner, room: string, visibility: Visibility, mentions: User[][]): Promise<User[][]> {
  const named = [...new Set(mentions.flat().map((u) => u.id))]
  if (visibility === 'public' || named.length === 0) return mentions
  const members = await membersIn(tx, room, named)
  return mentions.map((list) => list.filter((u) => members.has(u.id)))
}

/** Of `ids`, the room's members (one query). */
export const membersIn = async (tx: Runner, room: string, ids: number[]) =>
  new Set((await rows(tx, sql`SELECT user_id AS id FROM room_members WHERE room = ${room} AND user_id IN ${idsIn(ids)}`)).map((r) => num(r.id)))

/** Messages were stored: each sender has read their own, each member mentioned by someone else has one more mention. */
export async function countMessages(tx: Runner, room: string, posted: { id: number; sender: number; mentions: User[] }[]): Promise<void> {
  const bySender = new Map<number, number>()
  for (const p of posted) bySender.set(p.sender, (bySender.get(p.sender) ?? 0) + 1)
  const own = [...bySender].map(([user_id, n]) => ({ user_id, n }))
  await tx.execute(sql`UPDATE room_members m SET read_count = m.read_count + v.n FROM json_to_recordset(${json(own)}) AS v(user_id bigint, n bigint)
    WHERE m.room = ${room} AND m.user_id = v.user_id`)
  const named = posted.flatMap((p) => p.mentions.filter((u) => u.id !== p.sender).map((u) => ({ message_id: p.id, user_id: u.id })))
  if (named.length === 0) return
  // A new message is after every marker (markers stop at the newest message), so each mention counts.
  await tx.execute(sql`WITH added AS (
      INSERT INTO mentions (message_id, user_id, room) SELECT v.message_id, v.user_id, ${room} FROM json_to_recordset(${json(named)}) AS v(message_id bigint, user_id bigint)
      ON CONFLICT DO NOTHING RETURNING user_id)
    UPDATE room_members m SET mentions = m.mentions + a.n FROM (SELECT user_id, count(*) AS n FROM added GROUP BY user_id) a
    WHERE m.room = ${room} AND m.user_id = a.user_id`)
}

/** A message was deleted: it is no longer unread (nor a mention) for those who had not read it. */
export async function countDeletion(tx: Runner, room: string, id: number, author: number): Promise<void> {
  // The author is never among the mentioned, and their own message was never unread.
  await tx.execute(sql`WITH gone AS (DELETE FROM mentions WHERE message_id = ${id} RETURNING user_id)
    UPDATE room_members m SET read_count = m.read_count + 1, mentions = m.mentions - (m.user_id IN (SELECT user_id FROM gone))::int
    WHERE m.room = ${room} AND m.user_id <> ${author} AND m.last_read_id < ${id}`)
}

/** An edit changed who the message mentions: returns those mentioned now who were not before. */
export async function recountEdit(tx: Runner, room: string, id: number, author: number, mentions: User[]): Promise<User[]> {
  const before = new Set((await rows(tx, sql`SELECT user_id AS id FROM mentions WHERE message_id = ${id}`)).map((r) => num(r.id)))
  const now = mentions.filter((u) => u.id !== author)
  const added = now.filter((u) => !before.has(u.id))
  const kept = new Set(now.map((u) => u.id))
  const moves = [...added.map((u) => ({ user_id: u.id, delta: 1 })), ...[...before].filter((u) => !kept.has(u)).map((user_id) => ({ user_id, delta: -1 }))]
  if (moves.length === 0) return added
  await tx.execute(sql`WITH v AS (SELECT * FROM json_to_recordset(${json(moves)}) AS v(user_id bigint, delta int)),
      added AS (INSERT INTO mentions (message_id, user_id, room) SELECT ${id}, user_id, ${room} FROM v WHERE delta > 0 ON CONFLICT DO NOTHING),
      dropped AS (DELETE FROM mentions x USING v WHERE x.message_id = ${id} AND x.user_id = v.user_id AND v.delta < 0)
    UPDATE room_members m SET mentions = m.mentions + v.delta FROM v WHERE m.room = ${room} AND m.user_id = v.user_id AND m.last_read_id < ${id}`)
  return added
}

const COUNTS = sql.raw(`nullif(r.last_message_id, 0) AS "lastMessageId", greatest(0, coalesce(r.message_count, 0) - m.read_count) AS unread, m.mentions`)
const toCounts = (row: Row) => ({
  lastMessageId: row.lastMessageId === null ? null : num(row.lastMessageId),
  unread: num(row.unread),
  mentions: num(row.mentions),
})
const toMembership = (row: Row): MembershipRow => ({
  name: String(row.name),
  visibility: row.visibility as Visibility,
  topic: row.topic as string | null,
  lastReadId: num(row.lastReadId),
  ...toCounts(row),
})

export function postgresRooms(db: Db): RoomStore {
  /** A write to one room, in a transaction holding the room's lock. */
  const locked = <T>(room: string, work: (tx: Tx) => Promise<T>) =>
    guard(() =>
      db.transaction(async (tx) => {
        await lockRoom(tx, room)
        return work(tx)
      }),
    )
  /** Joins `user` with everything posted so far read; true when they were not in the room. */
  const insertMember = async (tx: Tx, room: string, user: number, at: number) =>
    (
      await rows(
        tx,
        sql`INSERT INTO room_members (room, user_id, joined_at, last_read_id, read_count, mentions)
          SELECT ${room}, ${user}, ${at}, last_message_id, message_count, 0 FROM rooms WHERE name = ${room}
          ON CONFLICT DO NOTHING RETURNING user_id`,
      )
    ).length > 0
  const audit = (tx: Tx, at: number, actor: Actor, action: string, room: string, user: User) =>
    tx.execute(sql`INSERT INTO audit (at, actor_id, actor_name, action, target)
      VALUES (${at}, ${actor?.id ?? null}, ${actor?.username ?? null}, ${action}, ${JSON.stringify({ room, user: { id: user.id, username: user.username } })})`)
  const read = (query: SQL) => guard(() => rows(db, query))

  return {
    // Under the lock too: a first message committing meanwhile would otherwise land in a room it saw as public.
    createRoom: (room) =>
      locked(room.name, async (tx) => {
        const created = await rows(
          tx,
          // A name only joined is registered too, and a private registration drops who joined it (sqlite-rooms.ts).
          sql`INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, visibility, topic, owner_id, registered_at, message_count)
            VALUES (${room.name}, 0, 0, 0, ${room.visibility}, ${room.topic}, ${room.owner.id}, ${room.at}, 0) ON CONFLICT (name) DO UPDATE SET
              visibility = excluded.visibility, topic = excluded.topic, owner_id = excluded.owner_id, registered_at = excluded.registered_at
            WHERE rooms.registered_at IS NULL AND rooms.last_message_id = 0 RETURNING name`,
        )
        if (created.length > 0 && room.visibility === 'private')
          await tx.execute(sql`DELETE FROM room_members WHERE room = ${room.name} AND user_id <> ${room.owner.id}`)
        if (created.length > 0) await insertMember(tx, room.name, room.owner.id, room.at)
        return created.length > 0
      }),
    async findRoom(name) {
      const [row] = await read(sql`SELECT r.visibility, r.topic, r.owner_id AS "ownerId", u.username AS "ownerName", r.registered_at AS "registeredAt",
          r.last_message_id AS "lastMessageId" FROM rooms r LEFT JOIN users u ON u.id = r.owner_id WHERE r.name = ${name}`)
      if (!row) return undefined
      const owner = row.ownerId === null || row.ownerName === null ? null : { id: num(row.ownerId), username: String(row.ownerName) }
      const found = { visibility: row.visibility as Visibility, topic: row.topic as string | null, owner, registered: row.registeredAt !== null }
      return { name, ...found, lastMessageId: num(row.lastMessageId) }
    },
    async roomAccess(name, userId) {
      const [row] = await read(sql`SELECT visibility, owner_id AS "ownerId", last_message_id AS "lastMessageId",
          EXISTS (SELECT 1 FROM room_members m WHERE m.room = rooms.name AND m.user_id = ${userId ?? -1}) AS member FROM rooms WHERE name = ${name}`)
      if (!row) return undefined
      const ownerId = row.ownerId === null ? null : num(row.ownerId)
      return { visibility: row.visibility as Visibility, ownerId, member: row.member === true, hasMessages: num(row.lastMessageId) > 0 }
    },
    async isMember(room, userId) {
      return (await read(sql`SELECT 1 FROM room_members WHERE room = ${room} AND user_id = ${userId}`)).length > 0
    },
    async membersAmong(room, userIds) {
      if (userIds.length === 0) return []
      return (await read(sql`SELECT user_id AS id FROM room_members WHERE room = ${room} AND user_id IN ${idsIn(userIds)}`)).map((r) => num(r.id))
    },
    // A name in the DM namespace used as a public room before DMs existed becomes the pair's DM.
    openDm: (name, a, b, at) =>
      locked(name, async (tx) => {
        await tx.execute(sql`INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, visibility, registered_at, message_count)
          VALUES (${name}, 0, 0, 0, 'private', ${at}, 0)
          ON CONFLICT (name) DO UPDATE SET visibility = 'private', registered_at = coalesce(rooms.registered_at, excluded.registered_at)`)
        let created = false
        for (const user of new Set([a, b])) if (await insertMember(tx, name, user, at)) created = true
        return created
      }),
    async listMembers(room) {
      return (
        await read(sql`SELECT u.id, u.username FROM room_members m JOIN users u ON u.id = m.user_id WHERE m.room = ${room} ORDER BY m.joined_at, m.user_id`)
      ).map(toUser)
    },
    addMember: (room, user, at, note) =>
      locked(room, async (tx) => {
        await tx.execute(sql`INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id) VALUES (${room}, 0, 0, 0) ON CONFLICT DO NOTHING`)
        const added = await insertMember(tx, room, user.id, at)
        if (added && note) await audit(tx, at, note.actor, 'room.member.add', room, user)
        return added
      }),
    removeMember: (room, user, at, note) =>
      locked(room, async (tx) => {
        const removed = (await rows(tx, sql`DELETE FROM room_members WHERE room = ${room} AND user_id = ${user.id} RETURNING user_id`)).length > 0
        if (removed && note) await audit(tx, at, note.actor, 'room.member.remove', room, user)
        return removed
      }),
    async listMyRooms(userId) {
      const found = await read(sql`SELECT m.room AS name, coalesce(r.visibility, 'public') AS visibility, r.topic, m.last_read_id AS "lastReadId", ${COUNTS}
        FROM room_members m LEFT JOIN rooms r ON r.name = m.room WHERE m.user_id = ${userId}
        ORDER BY coalesce(r.last_message_id, 0) DESC, m.room`)
      return found.map(toMembership)
    },
    markRead: (room, userId, id) =>
      locked(room, async (tx) => {
        const [found] = await rows(
          tx,
          sql`SELECT m.last_read_id AS "lastReadId", coalesce(r.last_message_id, 0) AS newest, coalesce(r.message_count, 0) AS total
            FROM room_members m LEFT JOIN rooms r ON r.name = m.room WHERE m.room = ${room} AND m.user_id = ${userId}`,
        )
        if (!found) return undefined
        const lastReadId = num(found.lastReadId)
        const target = Math.min(id, num(found.newest))
        if (target <= lastReadId) return { lastReadId, moved: false }
        // Only what comes after the new marker: what was unread (indexes messages_room_message_id, mentions_user_room_message).
        const [after] = await rows(
          tx,
          sql`SELECT (SELECT count(*) FROM messages WHERE room = ${room} AND kind = 'message' AND id > ${target} AND user_id <> ${userId} AND NOT deleted) AS unread,
            (SELECT count(*) FROM mentions WHERE user_id = ${userId} AND room = ${room} AND message_id > ${target}) AS mentions`,
        )
        await tx.execute(sql`UPDATE room_members SET last_read_id = ${target}, read_count = ${num(found.total) - num(after!.unread)},
          mentions = ${num(after!.mentions)} WHERE room = ${room} AND user_id = ${userId}`)
        return { lastReadId: target, moved: true }
      }),
    async unreadOf(room, userIds) {
      if (userIds.length === 0) return []
      const found = await read(sql`SELECT m.user_id AS "userId", ${COUNTS} FROM room_members m LEFT JOIN rooms r ON r.name = m.room
        WHERE m.room = ${room} AND m.user_id IN ${idsIn(userIds)}`)
      return found.map((row) => ({ userId: num(row.userId), ...toCounts(row) }))
    },
    async listMentionsOf(userId, after, limit) {
      const found = await read(sql`SELECT msg.id, msg.room, msg.user_id AS "userId", msg.username, msg.text, msg.nonce, msg.created_at AS "createdAt",
          msg.edited_at AS "editedAt", msg.deleted, msg.mentions
        FROM mentions x JOIN messages msg ON msg.id = x.message_id LEFT JOIN rooms r ON r.name = x.room
        WHERE x.user_id = ${userId} AND x.message_id > ${after} AND NOT msg.deleted
          AND (coalesce(r.visibility, 'public') = 'public' OR EXISTS (SELECT 1 FROM room_members m WHERE m.room = x.room AND m.user_id = ${userId}))
        ORDER BY x.message_id DESC LIMIT ${limit}`)
      return found.reverse().map((row) => {
        const message: MessageRow = {
          ...(row as unknown as MessageRow),
          id: num(row.id),
          userId: num(row.userId),
          createdAt: num(row.createdAt),
          editedAt: row.editedAt === null ? null : num(row.editedAt),
        }
        return { room: message.room, message: toMessage(message) }
      })
    },
    async findUsersByKeys(keys) {
      if (keys.length === 0) return []
      const found = await read(
        sql`SELECT id, username, username_key AS "usernameKey" FROM users WHERE username_key IN (SELECT value FROM json_array_elements_text(${json(keys)}))`,
      )
      return found.map((row) => ({ ...toUser(row), usernameKey: String(row.usernameKey) }))
    },
    async findUsersByIds(userIds) {
      return userIds.length === 0 ? [] : (await read(sql`SELECT id, username FROM users WHERE id IN ${idsIn(userIds)}`)).map(toUser)
    },
  }
}
