/**
 * The SQLite store's rooms and memberships (spec §6), and the unread counters that the message
 * stream's transaction moves (store/rooms.ts says how the counters work). Every query here is one
 * index look-up or a walk over a user's rooms, a room's members, or what comes after a read marker.
 */
import type { Database } from 'bun:sqlite'
import type { User } from '../protocol.ts'
import type { Actor } from './accounts.ts'
import type { MembershipRow, RoomStore, UnreadRow, Visibility } from './rooms.ts'
import { toMessage, type MessageRow } from './stream.ts'
import { whenFree } from './sqlite-file.ts'

/** What the message stream's batch transaction calls to keep the counters (never outside one). */
export interface SqliteCounters {
  /** Those of `mentions` who can read the room: everyone in a public room, the members of a private one. */
  keepReaders(room: string, visibility: Visibility, mentions: User[]): User[]
  /** Whether `user` may write to the room as it is now: anyone to a public room, its members to a private one. */
  mayWrite(room: string, visibility: Visibility, user: User): boolean
  /** A message was stored: the sender has read it, each mentioned member has one more mention. */
  countMessage(room: string, messageId: number, sender: number, mentions: User[]): void
  /** A message was deleted: it is no longer unread (nor a mention) for those who had not read it. */
  countDeletion(room: string, messageId: number, author: number): void
  /** An edit changed who the message mentions; returns those mentioned now who were not before. */
  recountEdit(room: string, messageId: number, author: number, mentions: User[]): User[]
}

const ids = (list: { id: number }[] | number[]) => JSON.stringify(list.map((x) => (typeof x === 'number' ? x : x.id)))
/** The ids bound as one JSON array `$ids`: one statement for any number of them. */
export const IN_IDS = '(SELECT value FROM json_each($ids))'

export function sqliteRooms(client: Database): RoomStore & { counters: SqliteCounters } {
  const q = client.query.bind(client)
  const memberIn = q<{ id: number }, { room: string; ids: string }>(`SELECT user_id AS id FROM room_members WHERE room = $room AND user_id IN ${IN_IDS}`)
  const readOwn = q(`UPDATE room_members SET read_count = read_count + 1 WHERE room = $room AND user_id = $user`)
  const addMention = q(`INSERT OR IGNORE INTO mentions (message_id, user_id, room) VALUES ($id, $user, $room)`)
  const dropMention = q(`DELETE FROM mentions WHERE message_id = $id AND user_id = $user`)
  const mentionedBy = q<{ id: number }, { id: number }>(`SELECT user_id AS id FROM mentions WHERE message_id = $id`)
  const moveMentions = q(
    `UPDATE room_members SET mentions = mentions + $by WHERE room = $room AND user_id = $user AND last_read_id < $id AND user_id != $author`,
  )
  const readDeleted = q(`UPDATE room_members SET read_count = read_count + 1 WHERE room = $room AND user_id != $author AND last_read_id < $id`)
  const unmentionDeleted = q(
    `UPDATE room_members SET mentions = mentions - 1 WHERE room = $room AND last_read_id < $id AND user_id IN (SELECT user_id FROM mentions WHERE message_id = $id)`,
  )
  const dropMentions = q(`DELETE FROM mentions WHERE message_id = $id`)

  const counters: SqliteCounters = {
    keepReaders(room, visibility, mentions) {
      if (visibility === 'public' || mentions.length === 0) return mentions
      const members = new Set(memberIn.all({ room, ids: ids(mentions) }).map((r) => r.id))
      return mentions.filter((u) => members.has(u.id))
    },
    mayWrite: (room, visibility, user) => visibility === 'public' || isMember.get({ room, user: user.id }) !== null,
    countMessage(room, id, sender, mentions) {
      readOwn.run({ room, user: sender })
      for (const u of mentions) {
        if (u.id === sender) continue
        addMention.run({ id, user: u.id, room })
        moveMentions.run({ by: 1, room, user: u.id, id, author: sender })
      }
    },
    countDeletion(room, id, author) {
      readDeleted.run({ room, author, id })
      unmentionDeleted.run({ room, id })
      dropMentions.run({ id })
    },
    recountEdit(room, id, author, mentions) {
      const before = new Set(mentionedBy.all({ id }).map((r) => r.id))
      const now = mentions.filter((u) => u.id !== author)
      const added = now.filter((u) => !before.has(u.id))
      for (const u of added) {
        addMention.run({ id, user: u.id, room })
        moveMentions.run({ by: 1, room, user: u.id, id, author })
      }
      const kept = new Set(now.map((u) => u.id))
      for (const user of before) {
        if (kept.has(user)) continue
        dropMention.run({ id, user })
        moveMentions.run({ by: -1, room, user, id, author })
      }
      return added
    },
  }

  // A name someone only joined (no messages, never registered) is registered too (spec §6: taken once
  // registered or with messages); a private registration drops those who joined it (`dropJoined`).
  const insertRoom = q<{ name: string }, Record<string, string | number | null>>(
    `INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, visibility, topic, owner_id, registered_at, message_count)
     VALUES ($name, 0, 0, 0, $visibility, $topic, $owner, $at, 0) ON CONFLICT (name) DO UPDATE SET visibility = excluded.visibility,
       topic = excluded.topic, owner_id = excluded.owner_id, registered_at = excluded.registered_at
     WHERE rooms.registered_at IS NULL AND rooms.last_message_id = 0 RETURNING name`,
  )
  const dropJoined = q(`DELETE FROM room_members WHERE room = $room AND user_id != $owner`)
  // A name in the DM namespace used as a public room before DMs existed becomes the pair's DM.
  const insertDm = q(
    `INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, visibility, registered_at, message_count)
     VALUES ($name, 0, 0, 0, 'private', $at, 0)
     ON CONFLICT (name) DO UPDATE SET visibility = 'private', registered_at = coalesce(registered_at, excluded.registered_at)`,
  )
  const ensureRoom = q(`INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id) VALUES ($room, 0, 0, 0) ON CONFLICT DO NOTHING`)
  const insertMember = q<{ id: number }, { room: string; user: number; at: number }>(
    `INSERT INTO room_members (room, user_id, joined_at, last_read_id, read_count, mentions)
     SELECT $room, $user, $at, last_message_id, message_count, 0 FROM rooms WHERE name = $room
     ON CONFLICT DO NOTHING RETURNING user_id AS id`,
  )
  const deleteMember = q<{ id: number }, { room: string; user: number }>(
    `DELETE FROM room_members WHERE room = $room AND user_id = $user RETURNING user_id AS id`,
  )
  const writeAudit = q(`INSERT INTO audit (at, actor_id, actor_name, action, target) VALUES ($at, $actorId, $actorName, $action, $target)`)
  const findRoom = q<
    {
      name: string
      visibility: Visibility
      topic: string | null
      ownerId: number | null
      ownerName: string | null
      registeredAt: number | null
      lastMessageId: number
    },
    { name: string }
  >(
    `SELECT r.name, r.visibility, r.topic, r.owner_id AS ownerId, u.username AS ownerName, r.registered_at AS registeredAt, r.last_message_id AS lastMessageId
     FROM rooms r LEFT JOIN users u ON u.id = r.owner_id WHERE r.name = $name`,
  )
  const access = q<{ visibility: Visibility; ownerId: number | null; member: number; lastMessageId: number }, { name: string; user: number }>(
    `SELECT visibility, owner_id AS ownerId, last_message_id AS lastMessageId,
       EXISTS (SELECT 1 FROM room_members m WHERE m.room = rooms.name AND m.user_id = $user) AS member
     FROM rooms WHERE name = $name`,
  )
  const isMember = q<{ one: number }, { room: string; user: number }>(`SELECT 1 AS one FROM room_members WHERE room = $room AND user_id = $user`)
  const members = q<User, { room: string }>(
    `SELECT u.id, u.username FROM room_members m JOIN users u ON u.id = m.user_id WHERE m.room = $room ORDER BY m.joined_at, m.user_id`,
  )
  const COUNTS = `nullif(r.last_message_id, 0) AS lastMessageId, max(0, coalesce(r.message_count, 0) - m.read_count) AS unread, m.mentions`
  const myRooms = q<MembershipRow, { user: number }>(
    `SELECT m.room AS name, coalesce(r.visibility, 'public') AS visibility, r.topic, nullif(r.last_message_id, 0) AS lastMessageId,
       m.last_read_id AS lastReadId, max(0, coalesce(r.message_count, 0) - m.read_count) AS unread, m.mentions
     FROM room_members m LEFT JOIN rooms r ON r.name = m.room WHERE m.user_id = $user
     ORDER BY coalesce(r.last_message_id, 0) DESC, m.room`,
  )
  const unreadOf = q<UnreadRow, { room: string; ids: string }>(
    `SELECT m.user_id AS userId, ${COUNTS} FROM room_members m LEFT JOIN rooms r ON r.name = m.room WHERE m.room = $room AND m.user_id IN ${IN_IDS}`,
  )
  const marker = q<{ lastReadId: number; newest: number; total: number }, { room: string; user: number }>(
    `SELECT m.last_read_id AS lastReadId, coalesce(r.last_message_id, 0) AS newest, coalesce(r.message_count, 0) AS total
     FROM room_members m LEFT JOIN rooms r ON r.name = m.room WHERE m.room = $room AND m.user_id = $user`,
  )
  // Only what comes after the new marker: what was unread (index messages_room_message_id, mentions_user_room_message).
  const unreadAfter = q<{ n: number }, { room: string; user: number; id: number }>(
    `SELECT count(*) AS n FROM messages WHERE room = $room AND kind = 'message' AND id > $id AND user_id != $user AND deleted = 0`,
  )
  const mentionsAfter = q<{ n: number }, { room: string; user: number; id: number }>(
    `SELECT count(*) AS n FROM mentions WHERE user_id = $user AND room = $room AND message_id > $id`,
  )
  const setMarker = q(`UPDATE room_members SET last_read_id = $id, read_count = $read, mentions = $mentions WHERE room = $room AND user_id = $user`)
  const mentionsOf = q<Omit<MessageRow, 'deleted'> & { deleted: number }, { user: number; after: number; limit: number }>(
    `SELECT msg.id, msg.room, msg.user_id AS userId, msg.username, msg.text, msg.nonce, msg.created_at AS createdAt,
       msg.edited_at AS editedAt, msg.deleted, msg.mentions
     FROM mentions x JOIN messages msg ON msg.id = x.message_id LEFT JOIN rooms r ON r.name = x.room
     WHERE x.user_id = $user AND x.message_id > $after AND msg.deleted = 0
       AND (coalesce(r.visibility, 'public') = 'public' OR EXISTS (SELECT 1 FROM room_members m WHERE m.room = x.room AND m.user_id = $user))
     ORDER BY x.message_id DESC LIMIT $limit`,
  )
  const usersByKey = q<User & { usernameKey: string }, { keys: string }>(
    `SELECT id, username, username_key AS usernameKey FROM users WHERE username_key IN (SELECT value FROM json_each($keys))`,
  )
  const usersById = q<User, { ids: string }>(`SELECT id, username FROM users WHERE id IN ${IN_IDS}`)

  function audit(at: number, actor: Actor, action: string, room: string, user: User): void {
    const target = JSON.stringify({ room, user: { id: user.id, username: user.username } })
    writeAudit.run({ at, actorId: actor?.id ?? null, actorName: actor?.username ?? null, action, target })
  }
  const write = <T>(fn: () => T) => whenFree(client.transaction(fn).immediate)

  return {
    counters,
    createRoom: (room) =>
      write(() => {
        const created = insertRoom.get({ name: room.name, visibility: room.visibility, topic: room.topic, owner: room.owner.id, at: room.at })
        if (created && room.visibility === 'private') dropJoined.run({ room: room.name, owner: room.owner.id })
        if (created) insertMember.run({ room: room.name, user: room.owner.id, at: room.at })
        return created !== null
      }),
    async findRoom(name) {
      const row = findRoom.get({ name })
      if (!row) return undefined
      const owner = row.ownerId === null || row.ownerName === null ? null : { id: row.ownerId, username: row.ownerName }
      return { name, visibility: row.visibility, topic: row.topic, owner, registered: row.registeredAt !== null, lastMessageId: row.lastMessageId }
    },
    async roomAccess(name, userId) {
      const row = access.get({ name, user: userId ?? -1 })
      return row ? { visibility: row.visibility, ownerId: row.ownerId, member: row.member === 1, hasMessages: row.lastMessageId > 0 } : undefined
    },
    async isMember(room, userId) {
      return isMember.get({ room, user: userId }) !== null
    },
    async membersAmong(room, userIds) {
      return userIds.length === 0 ? [] : memberIn.all({ room, ids: ids(userIds) }).map((r) => r.id)
    },
    openDm: (name, a, b, at) =>
      write(() => {
        insertDm.run({ name, at })
        let created = false
        for (const user of new Set([a, b])) if (insertMember.get({ room: name, user, at })) created = true
        return created
      }),
    async listMembers(room) {
      return members.all({ room })
    },
    addMember: (room, user, at, note) =>
      write(() => {
        ensureRoom.run({ room })
        const added = insertMember.get({ room, user: user.id, at }) !== null
        if (added && note) audit(at, note.actor, 'room.member.add', room, user)
        return added
      }),
    removeMember: (room, user, at, note) =>
      write(() => {
        const removed = deleteMember.get({ room, user: user.id }) !== null
        if (removed && note) audit(at, note.actor, 'room.member.remove', room, user)
        return removed
      }),
    async listMyRooms(userId) {
      return myRooms.all({ user: userId })
    },
    markRead: (room, userId, id) =>
      write(() => {
        const found = marker.get({ room, user: userId })
        if (!found) return undefined
        const target = Math.min(id, found.newest)
        if (target <= found.lastReadId) return { lastReadId: found.lastReadId, moved: false }
        const unread = unreadAfter.get({ room, user: userId, id: target })!.n
        const mentions = mentionsAfter.get({ room, user: userId, id: target })!.n
        setMarker.run({ room, user: userId, id: target, read: found.total - unread, mentions })
        return { lastReadId: target, moved: true }
      }),
    async unreadOf(room, userIds) {
      return userIds.length === 0 ? [] : unreadOf.all({ room, ids: ids(userIds) })
    },
    async listMentionsOf(userId, after, limit) {
      const rows = mentionsOf.all({ user: userId, after, limit })
      return rows.reverse().map((row) => ({ room: row.room, message: toMessage({ ...row, deleted: row.deleted === 1 }) }))
    },
    async findUsersByKeys(keys) {
      return keys.length === 0 ? [] : usersByKey.all({ keys: JSON.stringify(keys) })
    },
    async findUsersByIds(userIds) {
      return userIds.length === 0 ? [] : usersById.all({ ids: ids(userIds) })
    },
  }
}
