/**
 * PostgreSQL store for several instances sharing one database: Drizzle over Bun's built-in SQL,
 * migrations embedded at build time and applied under an advisory lock.
 */
import { SQL } from 'bun'
import { and, desc, eq, gt, inArray, lt, ne, notExists, sql as dsql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import { waitForService } from '../startup.ts'
import type { RoomActivity, RoomActivityQuery, Store } from './store.ts'
import type { Role } from '../protocol.ts'
import { postgresAccounts } from './postgres-accounts.ts'
import { postgresAttachments } from './postgres-attachments.ts'
import { postgresRooms } from './postgres-rooms.ts'
import { postgresSearch } from './postgres-search.ts'
import { postgresStream } from './postgres-stream.ts'
import { postgresDeliveries } from './postgres-deliveries.ts'
import { postgresWebhooks } from './postgres-webhooks.ts'
import { guard, isUnavailable, isUniqueViolation, migrate } from './postgres-connection.ts'

/**
 * Connects and migrates. Given `startupTimeoutMs` (STARTUP_TIMEOUT), a database that is not up yet is
 * retried until then, so instances may start alongside PostgreSQL, and one that never answers ends it.
 * The migrations themselves are not timed: on a large database one may take minutes (an index built
 * over every message), and giving up would roll it back only for the next start to try it again.
 */
export async function openPostgresStore(url: string, startupTimeoutMs?: number): Promise<Store> {
  const client = new SQL(url, { max: 20, idleTimeout: 30, connectionTimeout: 5 })
  try {
    await waitForService(startupTimeoutMs, () => client`SELECT 1`, isUnavailable)
    await migrate(client)
  } catch (err) {
    // An open client would keep the process alive and keep trying in the background.
    void client.close({ timeout: 0 }).catch(() => {})
    throw err
  }
  const db = drizzle({ client, schema })
  const { users, rooms, settings } = schema
  const activity = { room: rooms.name, lastMessageId: rooms.lastMessageId, visibility: rooms.visibility }
  const { drain, ...stream } = postgresStream(client, db)

  return {
    ...postgresAccounts(db),
    ...stream,
    ...postgresRooms(db),
    ...postgresAttachments(db),
    ...postgresSearch(db),
    ...postgresWebhooks(db),
    ...postgresDeliveries(db),
    findUserById: (id) =>
      guard(async () => {
        const [row] = await db.select({ id: users.id, username: users.username, role: users.role }).from(users).where(eq(users.id, id))
        return row && { id: Number(row.id), username: row.username, role: row.role as Role }
      }),
    // Every account at each start (chat/usernames.ts rekeyUsernames): the driver's rows as they come, without the query builder's mapping.
    listUserKeys: (afterId, limit) =>
      guard(async () => {
        const rows = (await client`SELECT id, username, username_key FROM users WHERE id > ${afterId} ORDER BY id LIMIT ${limit}`) as {
          id: string | number
          username: string
          username_key: string
        }[]
        return rows.map((row) => ({ id: Number(row.id), username: row.username, usernameKey: row.username_key }))
      }),
    setUsernameKey: (id, key) =>
      guard(async () => {
        const taken = db
          .select({ id: users.id })
          .from(users)
          .where(and(eq(users.usernameKey, key), ne(users.id, id)))
        try {
          const rows = await db
            .update(users)
            .set({ usernameKey: key })
            .where(and(eq(users.id, id), notExists(taken)))
            .returning({ id: users.id })
          return rows.length > 0
        } catch (err) {
          // A sign-up on another instance took the key after this statement's snapshot.
          if (isUniqueViolation(err)) return false
          throw err
        }
      }),
    updatePasswordHash: (id, previous, next) =>
      guard(async () => {
        const rows = await db
          .update(users)
          .set({ passwordHash: next })
          .where(and(eq(users.id, id), eq(users.passwordHash, previous)))
          .returning({ id: users.id })
        return rows.length > 0
      }),
    getOrCreateSetting: (key, create) =>
      guard(async () => {
        await db.insert(settings).values({ key, value: create() }).onConflictDoNothing()
        const [row] = await db.select({ value: settings.value }).from(settings).where(eq(settings.key, key))
        if (!row) throw new Error(`setting ${key} vanished after insert`)
        return row.value
      }),
    listRoomActivity: (q: RoomActivityQuery) =>
      guard(async (): Promise<RoomActivity[]> => {
        // Public rooms with messages only (spec §6: a private room is in no list), by (visibility, last_message_id).
        return db
          .select(activity)
          .from(rooms)
          .where(and(eq(rooms.visibility, 'public'), gt(rooms.lastMessageId, 0), q.before === undefined ? undefined : lt(rooms.lastMessageId, q.before)))
          .orderBy(desc(rooms.lastMessageId))
          .limit(q.limit)
      }),
    findRoomActivity: (names: string[]) =>
      guard(async (): Promise<RoomActivity[]> => (names.length === 0 ? [] : db.select(activity).from(rooms).where(inArray(rooms.name, names)))),
    ping: () =>
      guard(async () => {
        await db.execute(dsql`SELECT 1`)
      }),
    async close() {
      await drain()
      await client.close({ timeout: 5 })
    },
  }
}
