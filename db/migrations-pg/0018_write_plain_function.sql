-- A batch of plain messages (no reply, attachment or mention) written in one call, in the call's own
-- transaction: the room's advisory lock (the key postgres-stream.ts and postgres-rooms.ts take), then one
-- statement that reads the rooms row, inserts the run from a JSON array in its order, counts each sender's
-- own messages read and moves the rooms row. A PL/pgSQL function's statements each take a snapshot of their
-- own (it is VOLATILE), so the statement sees the rooms row as the lock's previous holder committed it; the
-- lock is released when the call's transaction commits. One round trip where BEGIN, the lock, the statement
-- and COMMIT took four: ~60 against ~190 µs of the server's CPU per batch and ~70 against ~170 of
-- PostgreSQL's (docs/PERFORMANCE.md, "Several instances"). `before` is the room's last entry before the
-- run, `ids` the run's ids in its order, comma-separated.
CREATE FUNCTION "chat_write_plain"("lock_class" integer, "room_name" text, "batch" json)
  RETURNS TABLE ("before" bigint, "ids" text)
  LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM pg_advisory_xact_lock("lock_class", hashtext("room_name"));
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
