/**
 * Nothing on a request path scans a table (issue 16, "cost as data grows"): the plan of every statement
 * the store executes for a request (a login's look-up, a welcome's history, a history page, the rooms
 * list, my rooms with unread counts, unread counts for the user stream, mentions, search, attachments,
 * a webhook found by its token's hash, the delivery claim, posting, editing, deleting, reading, joining,
 * the admin's pages) and for the server's own jobs, on a database bench/generate-data.ts made. The
 * statements are those the store really runs (test/support/query-plans.ts records them), so a query
 * added later is checked too.
 *
 * SQLite plans without statistics (the server never runs ANALYZE), so its plans are those of any size.
 * PostgreSQL plans by statistics, and on a small database rightly reads a small table whole: it runs
 * with sequential scans disabled, so that a scan left in a plan is one no index can replace. (bench/
 * growth.ts checks the same on 10 M messages with the planner as it is.)
 */
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { expect, test as sqliteTest } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DATA_SMOKE, generatePostgres, generateSqlite } from '../../bench/generate-data.ts'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import { pickTargets, postgresPlans, sqlitePlans, steps, violations, type Planned } from '../support/query-plans.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres } from '../support/services.ts'

const { test: pgTest } = requireServices('postgresql')

/** Every plan line of a step's statements. */
const linesOf = (planned: Planned[], step: string) => planned.filter((p) => p.step === step).flatMap((p) => p.plan)

sqliteTest(
  'SQLite: no request reads a whole table; each finds its rows by index',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-request-plans-'))
    try {
      const file = join(dir, 'chat.db')
      await generateSqlite(file, DATA_SMOKE)
      const db = new Database(file, { readonly: true })
      const targets = await pickTargets(async (q) => db.query<Record<string, unknown>, []>(q).all())
      db.close()
      const list = steps(targets)
      const planned = await sqlitePlans(file, openSqliteStore, list)
      // Every step ran statements (the recording works), and none of them scans.
      expect(list.filter((s) => !planned.some((p) => p.step === s.name)).map((s) => s.name)).toEqual([])
      expect(violations(planned).map(({ step, scan, sql }) => `${step}: ${scan}\n  ${sql.replace(/\s+/g, ' ').slice(0, 200)}`)).toEqual([])
      // What the issue names, by the index each uses.
      const uses: [string, string][] = [
        ['login: user by username key', 'SEARCH users USING INDEX users_username_key_unique (username_key=?)'],
        // Migration 0016: a user's memberships are one stretch of room_members, stored by (user_id, room).
        ['my rooms with unread counts', 'SEARCH m USING PRIMARY KEY (user_id=?)'],
        ['my rooms with unread counts', 'SEARCH r USING INDEX sqlite_autoindex_rooms_1 (name=?) LEFT-JOIN'],
        [
          'rooms list: first page',
          'SEARCH rooms USING COVERING INDEX rooms_visibility_last_message_id (visibility=? AND last_message_id>? AND last_message_id<?)',
        ],
        // Migration 0019: a room's messages and its events in two partial indexes by (room, id).
        ['history: newest page', 'SEARCH messages USING COVERING INDEX messages_room_message_id (room=? AND id>? AND id<?)'],
        ['history: a page further back', 'SEARCH messages USING COVERING INDEX messages_room_message_id (room=? AND id>? AND id<?)'],
        // Migration 0020: the page's filed messages whole from the room-ordered copy, the others by id.
        ['history: newest page', 'SEARCH messages USING COVERING INDEX messages_room_filed (room=? AND id>? AND id<?)'],
        ['history: a page further back', 'SEARCH messages USING COVERING INDEX messages_room_filed (room=? AND id>? AND id<?)'],
        ['history: newest page', 'SEARCH messages USING INTEGER PRIMARY KEY (rowid=?)'],
        ["welcome: the room's recent stream", 'SEARCH messages USING COVERING INDEX messages_room_message_id (room=?)'],
        // A stretch of the stream: the page's messages as a history page reads them, its events from their own index.
        ["welcome: the room's recent stream", 'SEARCH messages USING COVERING INDEX messages_room_message_id (room=? AND id>? AND id<?)'],
        ["welcome: the room's recent stream", 'SEARCH messages USING COVERING INDEX messages_room_filed (room=? AND id>? AND id<?)'],
        ["welcome: the room's recent stream", 'SEARCH messages USING INDEX messages_room_event_id (room=? AND id>? AND id<?)'],
        ['user stream: unread counts of a room', 'SEARCH m USING INDEX room_members_room (room=? AND user_id=?)'],
        // The caller's private rooms: their memberships, then each room by name (never every private room).
        ['search: a common word', 'SEARCH rm USING PRIMARY KEY (user_id=?)'],
        ['search: a common word', 'SEARCH r USING INDEX sqlite_autoindex_rooms_1 (name=?)'],
        // Each of them's newest message, so that a full page of public matches skips the older ones' stretches.
        ['search: a common word', 'SEARCH m USING COVERING INDEX messages_room_message_id (room=?)'],
        ['mark read', 'SEARCH messages USING INDEX messages_room_message_id (room=? AND id>?)'],
        ['mark read', 'SEARCH mentions USING COVERING INDEX mentions_user_room_message (user_id=? AND room=? AND message_id>?)'],
        ['attachment: by id', 'SEARCH attachments USING INDEX sqlite_autoindex_attachments_1 (id=?)'],
        ['attachment: quota used', 'SEARCH attachments USING INDEX attachments_user_id (user_id=?)'],
        ['incoming webhook: by token hash', 'SEARCH incoming_webhooks USING INDEX incoming_webhooks_token_hash_unique (token_hash=?)'],
        ['webhook worker: claim due deliveries', 'SEARCH webhook_deliveries USING INDEX webhook_deliveries_status_next (status=? AND next_attempt_at<?)'],
        // Migration 0012 (request_path_indexes): these read every account or every message before.
        ['sign-up', 'SEARCH users USING INDEX users_role (role=?)'],
        ['admin: bots', 'SEARCH users USING INDEX users_bot (bot=?)'],
        ['admin: delete a user', 'SEARCH messages USING INDEX messages_user_id (user_id=?)'],
      ]
      for (const [step, line] of uses) expect({ step, plan: linesOf(planned, step) }).toEqual({ step, plan: expect.arrayContaining([line]) })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
  60_000,
)

pgTest(
  'PostgreSQL: no request needs a whole table; each finds its rows by index',
  async () => {
    await using pg = await startPostgres()
    // 1 % of the benchmark's database: rooms hold a small share of all messages, as in a real one.
    await generatePostgres(pg.url, { messages: 100_000, rooms: 1_000, users: 2_000 })
    const sql = new SQL(pg.url)
    const targets = await pickTargets(async (q) => (await sql.unsafe(q)) as Record<string, unknown>[])
    await sql.close()
    const list = steps(targets)
    const planned = await postgresPlans(pg.url, pg.logFile!, (url) => openPostgresStore(url), list, true)
    expect(list.filter((s) => !planned.some((p) => p.step === s.name)).map((s) => s.name)).toEqual([])
    expect(violations(planned).map(({ step, scan, sql }) => `${step}: ${scan}\n  ${sql.replace(/\s+/g, ' ').slice(0, 200)}`)).toEqual([])
    const uses: [string, RegExp][] = [
      ['login: user by username key', /Index Scan on users using users_username_key_unique/],
      ['my rooms with unread counts', /using room_members_user_id_room_pk \(\(user_id = /],
      ['rooms list: first page', /Index (Only )?Scan on rooms using rooms_visibility_last_message_id/],
      ['history: newest page', /Index Scan on messages using messages_room_message_id/],
      ['history: a page further back', /Index Scan on messages using messages_room_message_id/],
      // Its newest messages from the index of its messages alone, then the stream from the oldest of
      // them: that index and the events' (a stretch this short is fetched by bitmap and sorted).
      ["welcome: the room's recent stream", /Index Only Scan on messages using messages_room_message_id \(+room = /],
      ["welcome: the room's recent stream", /using messages_room_message_id \(+room = .* AND \(id > /],
      ["welcome: the room's recent stream", /using messages_room_event_id \(+room = .* AND \(id > /],
      ['user stream: unread counts of a room', /using room_members_(room|user_id_room_pk) /],
      ['attachment: quota used', /using attachments_user_id/],
      ['incoming webhook: by token hash', /Index Scan on incoming_webhooks using incoming_webhooks_token_hash_unique/],
      ['webhook worker: claim due deliveries', /Index Scan on webhook_deliveries using webhook_deliveries_status_next/],
      ['sign-up', /using users_role/],
      ['admin: bots', /using users_bot/],
      ['admin: delete a user', /using messages_user_id/],
    ]
    for (const [step, pattern] of uses) expect({ step, found: linesOf(planned, step).some((l) => pattern.test(l)) }).toEqual({ step, found: true })
  },
  120_000,
)
