-- Custom SQL migration file, put your code below! --
-- 0018's batch of plain messages, which now checks under the room's lock that a private room takes only
-- its members' messages (spec §6). Access is checked when a frame is accepted, and a room can be
-- registered private, or lose the sender as a member, before the batch holding the frame commits. A batch
-- with a message of anyone else is not written: the call answers `before` and `ids` null, and the caller
-- writes the batch in a transaction of its own, which refuses those messages one by one
-- (src/store/postgres-stream.ts). The check reads the rooms row once more and, for a private room, the
-- senders' memberships.
CREATE OR REPLACE FUNCTION "chat_write_plain"("lock_class" integer, "room_name" text, "batch" json)
  RETURNS TABLE ("before" bigint, "ids" text)
  LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM pg_advisory_xact_lock("lock_class", hashtext("room_name"));
  IF EXISTS (SELECT 1 FROM rooms WHERE rooms.name = "room_name" AND rooms.visibility = 'private')
    AND EXISTS (SELECT 1 FROM json_to_recordset("batch") AS v(user_id bigint)
      WHERE NOT EXISTS (SELECT 1 FROM room_members m WHERE m.room = "room_name" AND m.user_id = v.user_id)) THEN
    RETURN QUERY SELECT NULL::bigint, NULL::text;
    RETURN;
  END IF;
  RETURN QUERY
  WITH r AS (SELECT rooms.last_event_id, rooms.visibility FROM rooms WHERE rooms.name = "room_name"),
    ins AS (
      INSERT INTO messages (room, user_id, username, text, nonce, created_at, private)
      SELECT "room_name", v.user_id, v.username, v.text, v.nonce, v.created_at, coalesce((SELECT r.visibility = 'private' FROM r), false)
      FROM json_to_recordset("batch") AS v(user_id bigint, username text, text text, nonce text, created_at bigint)
      RETURNING messages.id, messages.user_id, messages.created_at),
    newest AS (SELECT ins.id, ins.created_at FROM ins ORDER BY ins.id DESC LIMIT 1),
    counted AS (
      UPDATE room_members m SET read_count = m.read_count + own.n FROM (SELECT ins.user_id, count(*) AS n FROM ins GROUP BY ins.user_id) own
      WHERE m.room = "room_name" AND m.user_id = own.user_id),
    moved AS (
      INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, message_count)
      SELECT "room_name", newest.id, newest.created_at, newest.id, (SELECT count(*) FROM ins) FROM newest
      ON CONFLICT (name) DO UPDATE SET last_message_id = excluded.last_message_id, last_active_at = excluded.last_active_at,
        last_event_id = excluded.last_event_id, message_count = rooms.message_count + excluded.message_count
      WHERE rooms.last_message_id < excluded.last_message_id)
  SELECT (SELECT r.last_event_id FROM r), (SELECT string_agg(ins.id::text, ',' ORDER BY ins.id) FROM ins);
END
$$;
