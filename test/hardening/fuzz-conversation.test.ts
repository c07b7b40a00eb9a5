/**
 * Fuzzing spec §7 replies and reactions with fast-check, on SQLite and PostgreSQL: random `message`
 * frames with random `replyTo` (live, deleted, another room's, an event's, unknown ids, random JSON)
 * and `attachments` fields (random lists and JSON; no uploads exist), random `react` frames (ids as
 * above, emoji valid, invalid, random graphemes and JSON, `on` random), interleaved with edits and
 * deletions of the fuzzer's messages. A model of the room predicts each answer:
 *
 * - message: the sender's copy with the quote as the model has it (`replyTo` {id,user,text} cut to 200
 *   code points, text null once deleted), or `error` MESSAGE_INVALID (a replyTo that is not a message
 *   of this room, attachments that are not the sender's uploads, a bad text); a reply to a deleted
 *   message and an empty `attachments` list, which the docs leave open, may get either;
 * - react: `reaction` by the fuzzer, silence for a toggle that changes nothing, `error` MESSAGE_INVALID
 *   (bad id, emoji or on; a 21st emoji; not a live message of this room: spec §7's one refusal);
 * - never any other error (INTERNAL above all), the socket stays open, and every frame gets one answer;
 * - after each run the REST history, read as the fuzzer and anonymously, is exactly the model:
 *   nothing stored on a refusal, quotes as they are now, reactions with their counts and `me`.
 *
 * FUZZ_RUNS sets the runs per store (default 60, each up to 12 frames); FUZZ_SEED=<n> replays a
 * failure reported with that seed. Each property stops after FUZZ_TIME_MS (default 20 s).
 */
import { expect } from 'bun:test'
import fc from 'fast-check'
import { showsNothing } from '../../src/protocol-text.ts'
import type { Message } from '../../src/protocol.ts'
import { change } from '../support/changes.ts'
import { answerToMessage, MANY_EMOJI, react, WAIT_MS } from '../support/conversation.ts'
import { request, type Account } from '../support/http.ts'
import { cast, connectRoom, sync } from '../support/private-rooms.ts'
import { post, roomMessages } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import type { Frame, TestSocket } from '../support/socket.ts'
import { STORES } from '../support/stores.ts'
import { frameWhere } from '../support/wait.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 60)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const TIME_MS = Number(process.env.FUZZ_TIME_MS ?? 20_000)
const TEST_TIMEOUT_MS = TIME_MS + 60_000
const ROOM = 'fuzz'
const OTHER_ROOM = 'elsewhere'
const QUOTE_MAX = 200
const REACTIONS_MAX = 20

// ---- the documented rules, as an oracle ---------------------------------------------------------

const cps = (s: string) => [...s]
const quoteOf = (text: string) =>
  cps(text).length <= QUOTE_MAX
    ? text
    : `${cps(text)
        .slice(0, QUOTE_MAX - 1)
        .join('')}…`
/** The message text rules (spec §3); what shows nothing is protocol-text.ts's list, the one usernames use too. */
const validText = (t: unknown): t is string => typeof t === 'string' && !showsNothing(t) && t.isWellFormed() && !t.includes('\u0000') && cps(t).length <= 4000
const RGI = /^\p{RGI_Emoji}$/v
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })
/** API.md: one of Unicode's recommended emoji that is also one grapheme. */
const validEmoji = (e: unknown): e is string => typeof e === 'string' && RGI.test(e) && [...graphemes.segment(e)].length === 1
const isIdShape = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1

// ---- generators ---------------------------------------------------------------------------------

/** A reference to an id, resolved against the model when the frame is sent. */
type IdRef = { kind: 'live' | 'hot' | 'deleted' | 'event'; pick: number } | { kind: 'foreign' | 'unknown' } | { kind: 'raw'; value: unknown }
/** A field's value: absent, or one given. */
type Field<T> = { absent: true } | { absent: false; value: T }

const anyJson = fc.jsonValue({ maxDepth: 2 })
const idRef: fc.Arbitrary<IdRef> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('live' as const), pick: fc.nat() }) },
  // The two oldest live messages, so that reactions pile up to the 20-emoji limit.
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('hot' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deleted' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('event' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'foreign' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'unknown' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('raw' as const),
      value: fc.oneof(fc.constantFrom(0, -1, 1.5, '1', null, true, 2 ** 53, [1], {}), fc.integer(), anyJson),
    }),
  },
)
const field = <T>(arb: fc.Arbitrary<T>, absentWeight: number, presentWeight: number): fc.Arbitrary<Field<T>> =>
  fc.oneof(
    { weight: absentWeight, arbitrary: fc.constant({ absent: true as const }) },
    { weight: presentWeight, arbitrary: arb.map((value) => ({ absent: false as const, value })) },
  )
const messageText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('hi', 'héllo 😀', 'a b c', '𝒜'.repeat(250), `${'x'.repeat(198)}😀😀😀`, '@nobody look', '👩‍💻') },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '   ', '\u200b', 'a\u0000b', 7, null) },
)
const attachments = fc.oneof(
  fc.constant([] as unknown[]),
  fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 3 }),
  fc.array(fc.stringMatching(/^[\w-]{1,64}$/), { minLength: 1, maxLength: 11 }),
  anyJson,
)
const emoji = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('👍', '👍🏽', '🇫🇷', '👩‍💻', '1️⃣', '❤️', '🎉', '😂', '🏳️‍🌈', ...MANY_EMOJI, '🤔', '🫡') },
  { weight: 2, arbitrary: fc.constantFrom('a', '👍👍', '', '🇫', '❤', ':)', 'a'.repeat(65), '😀'.repeat(33), 1, null, ['👍']) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 2 }) },
  { weight: 1, arbitrary: anyJson },
)

type Command =
  | { type: 'message'; text: unknown; replyTo: Field<IdRef>; attachments: Field<unknown> }
  | { type: 'react'; id: Field<IdRef>; emoji: Field<unknown>; on: Field<unknown> }
  | { type: 'edit'; pick: number; text: string }
  | { type: 'delete'; pick: number }

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ type: fc.constant('message' as const), text: messageText, replyTo: field(idRef, 1, 3), attachments: field(attachments, 4, 1) }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant('react' as const),
      id: field(idRef, 1, 15),
      emoji: field(emoji, 1, 15),
      on: field(fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: anyJson }), 1, 15),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('edit' as const), pick: fc.nat(), text: fc.constantFrom('edited', '🎉'.repeat(230), 'short again') }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('delete' as const), pick: fc.nat() }) },
)

// ---- the model ----------------------------------------------------------------------------------

interface Modelled {
  user: { id: number; username: string }
  text: string
  deleted: boolean
  replyTo?: number
}

class Model {
  messages = new Map<number, Modelled>()
  /** Per message: emoji → the users who put it. */
  reactions = new Map<number, Map<string, Set<number>>>()
  events: number[] = []
  foreign: number[] = []

  live = () => [...this.messages].filter(([, m]) => !m.deleted).map(([id]) => id)
  deleted = () => [...this.messages].filter(([, m]) => m.deleted).map(([id]) => id)
  ownLive = (userId: number) => [...this.messages].filter(([, m]) => !m.deleted && m.user.id === userId).map(([id]) => id)
  maxId = () => Math.max(0, ...this.messages.keys(), ...this.events, ...this.foreign)

  resolve(ref: IdRef): unknown {
    const from = (ids: number[], pick: number) => (ids.length === 0 ? this.maxId() + 1_000_000 : ids[pick % ids.length]!)
    switch (ref.kind) {
      case 'live':
        return from(this.live(), ref.pick)
      case 'hot':
        return from(this.live().slice(0, 2), ref.pick)
      case 'deleted':
        return from(this.deleted(), ref.pick)
      case 'event':
        return from(this.events, ref.pick)
      case 'foreign':
        return from(this.foreign, 0)
      case 'unknown':
        return this.maxId() + 1_000_000
      case 'raw':
        return ref.value
    }
  }

  quote(id: number) {
    const m = this.messages.get(id)!
    return { id, user: m.user, text: m.deleted ? null : quoteOf(m.text) }
  }

  /** The message as REST history shows it to `reader` (null: anonymous), minus ts and nonce. */
  shown(id: number, reader: number | null): Record<string, unknown> {
    const m = this.messages.get(id)!
    if (m.deleted) return { id, room: ROOM, user: m.user, deleted: true }
    const shown: Record<string, unknown> = { id, room: ROOM, user: m.user, text: m.text }
    if (m.replyTo !== undefined) shown.replyTo = this.quote(m.replyTo)
    const emojis = this.reactions.get(id)
    if (emojis && emojis.size > 0)
      shown.reactions = [...emojis]
        .map(([emoji, users]) => ({ emoji, count: users.size, me: reader !== null && users.has(reader) }))
        .sort((a, b) => (a.emoji < b.emoji ? -1 : a.emoji > b.emoji ? 1 : 0))
    return shown
  }
}

/** What the server must answer to one frame. */
type Prediction =
  | { kind: 'ack'; replyTo?: ReturnType<Model['quote']>; orInvalid?: boolean }
  | { kind: 'error'; type: 'MESSAGE_INVALID' }
  | { kind: 'reaction'; messageId: number; emoji: string; on: boolean }
  | { kind: 'silence' }

const ALLOWED_ERRORS = ['MESSAGE_INVALID']

async function historyAs(server: TestServer, reader?: Account): Promise<Message[]> {
  const all: Message[] = []
  let query = '?limit=200'
  for (;;) {
    const page = await request(roomMessages(server, ROOM, query), reader ? { headers: { Authorization: `Bearer ${reader.token}` } } : {})
    if (page.status !== 200) throw new Error(`history read failed: ${page.status} ${JSON.stringify(page.body)}`)
    all.unshift(...page.body.data.messages)
    if (!page.body.data.hasMore) return all
    query = `?limit=200&before=${page.body.data.messages[0].id}`
  }
}

/** A message of history as the model compares it: no ts, no nonce, no editedAt, mentions, attachments; reactions sorted. */
function comparable(m: Message): Record<string, unknown> {
  const { ts: _ts, nonce: _nonce, editedAt: _e, mentions: _m, attachments: _a, ...rest }: Record<string, unknown> = { ...m }
  if (Array.isArray(rest.reactions))
    rest.reactions = [...(rest.reactions as { emoji: string }[])].sort((a, b) => (a.emoji < b.emoji ? -1 : a.emoji > b.emoji ? 1 : 0))
  return rest
}

let nonces = 0

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    store.test(
      'random message (replyTo, attachments) and react frames get only the documented answers, and storage follows the model',
      async () => {
        await using server = await store.start({ config: { messageBurst: 1_000_000, messageRate: 1_000_000 } })
        const [, fuzzer, other] = (await cast(server, 'root', 'fuzzer', 'other')) as [Account, Account, Account]
        using socket = await connectRoom(server, ROOM, fuzzer)
        using otherIn = await connectRoom(server, ROOM, other)
        using observer = await connectRoom(server, ROOM)
        using elsewhere = await connectRoom(server, OTHER_ROOM, fuzzer)
        const model = new Model()
        const stats: Record<string, number> = {}

        // A room with others' messages, a deleted one, an edit, a reaction by someone else, and a message of another room.
        const add = (m: Message, replyTo?: number) => model.messages.set(m.id, { user: m.user, text: m.text!, deleted: false, ...(replyTo ? { replyTo } : {}) })
        const theirs = await post(otherIn, 'from the other one')
        add(theirs)
        const mine = await post(socket, 'mine')
        add(mine)
        const gone = await post(socket, 'soon gone')
        add(gone)
        model.events.push((await change(socket, { type: 'edit', id: mine.id, text: 'mine, edited' })).data.id)
        model.messages.get(mine.id)!.text = 'mine, edited'
        model.events.push((await change(socket, { type: 'delete', id: gone.id })).data.id)
        model.messages.get(gone.id)!.deleted = true
        model.events.push((await react(otherIn, other, theirs.id, '👍')).id)
        model.reactions.set(theirs.id, new Map([['👍', new Set([other.user.id])]]))
        model.foreign.push((await post(elsewhere, 'another room')).id)

        /** Waits for the answer to the frame sent after frame index `before`. */
        const answerAfter = (before: number, nonce?: string): Promise<Frame> =>
          frameWhere(
            socket,
            (f) =>
              socket.frames.indexOf(f) >= before &&
              (f.type === 'error' ||
                (f.type === 'message' && nonce !== undefined && f.data.nonce === nonce) ||
                ((f.type as string) === 'reaction' && f.data.user.id === fuzzer.user.id)),
            WAIT_MS,
            'an answer',
          )

        /** A message of the fuzzer's, acknowledged: whatever a frame before it caused has been answered by then. */
        const barrier = async () => {
          const answer = await answerToMessage(socket, { text: 'barrier' })
          if (answer.type !== 'message') throw new Error(`the barrier was refused: ${JSON.stringify(answer)}`)
          add(answer.data)
        }

        /** An edit or deletion of the fuzzer's own message, which must be accepted: its event id. */
        const changeOwn = async (frame: { type: 'edit'; id: number; text: string } | { type: 'delete'; id: number }): Promise<number> => {
          const before = socket.frames.length
          socket.send(frame)
          const answer = await frameWhere(
            socket,
            (f) =>
              socket.frames.indexOf(f) >= before && (f.type === 'error' || ((f.type === 'edited' || f.type === 'deleted') && f.data.messageId === frame.id)),
            WAIT_MS,
            `the answer to ${frame.type}`,
          )
          if (answer.type === 'error') throw new Error(`${frame.type} refused: ${JSON.stringify(answer.error)}`)
          return answer.data.id
        }

        async function run(commands: Command[]): Promise<void> {
          const start = socket.frames.length
          let errors = 0
          let reactions = 0
          for (const cmd of commands) {
            if (cmd.type === 'edit' || cmd.type === 'delete') {
              const own = model.ownLive(fuzzer.user.id)
              if (own.length === 0) continue
              const id = own[cmd.pick % own.length]!
              if (cmd.type === 'edit') {
                model.events.push(await changeOwn({ type: 'edit', id, text: cmd.text }))
                model.messages.get(id)!.text = cmd.text
              } else {
                model.events.push(await changeOwn({ type: 'delete', id }))
                model.messages.get(id)!.deleted = true
                model.reactions.delete(id)
              }
              continue
            }

            const frame: Record<string, unknown> = { type: cmd.type }
            let prediction: Prediction
            let nonce: string | undefined
            if (cmd.type === 'message') {
              nonce = `f${++nonces}`
              frame.text = cmd.text
              frame.nonce = nonce
              let invalid = !validText(cmd.text)
              let open = false
              let replyTo: number | undefined
              if (!cmd.replyTo.absent) {
                const value = model.resolve(cmd.replyTo.value)
                frame.replyTo = value
                const target = isIdShape(value) ? model.messages.get(value) : undefined
                if (!target) invalid = true
                else if (target.deleted) open = true
                if (target) replyTo = value as number
              }
              if (!cmd.attachments.absent) {
                frame.attachments = cmd.attachments.value
                if (Array.isArray(cmd.attachments.value) && cmd.attachments.value.length === 0) open = true
                else invalid = true
              }
              prediction = invalid
                ? { kind: 'error', type: 'MESSAGE_INVALID' }
                : { kind: 'ack', ...(replyTo === undefined ? {} : { replyTo: model.quote(replyTo) }), orInvalid: open }
            } else {
              const id = cmd.id.absent ? undefined : model.resolve(cmd.id.value)
              const e = cmd.emoji.absent ? undefined : cmd.emoji.value
              const on = cmd.on.absent ? undefined : cmd.on.value
              if (!cmd.id.absent) frame.id = id
              if (!cmd.emoji.absent) frame.emoji = e
              if (!cmd.on.absent) frame.on = on
              if (!isIdShape(id) || !validEmoji(e) || typeof on !== 'boolean') prediction = { kind: 'error', type: 'MESSAGE_INVALID' }
              else if (!model.messages.get(id) || model.messages.get(id)!.deleted) prediction = { kind: 'error', type: 'MESSAGE_INVALID' }
              else {
                const emojis = model.reactions.get(id) ?? new Map<string, Set<number>>()
                const has = emojis.get(e)?.has(fuzzer.user.id) ?? false
                if (on === has) prediction = { kind: 'silence' }
                else if (on && !emojis.has(e) && emojis.size >= REACTIONS_MAX) prediction = { kind: 'error', type: 'MESSAGE_INVALID' }
                else prediction = { kind: 'reaction', messageId: id, emoji: e, on }
              }
            }

            const before = socket.frames.length
            socket.send(frame)
            const label = { frame, prediction }
            if (process.env.FUZZ_STATS)
              stats[prediction.kind === 'error' ? prediction.type : prediction.kind] =
                (stats[prediction.kind === 'error' ? prediction.type : prediction.kind] ?? 0) + 1
            if (prediction.kind === 'silence') {
              await barrier()
              const caused = socket.frames.slice(before).filter((f) => f.type === 'error' || (f.type as string) === 'reaction')
              expect({ ...label, caused }).toEqual({ ...label, caused: [] })
              continue
            }
            const answer = await answerAfter(before, nonce)
            if (answer.type === 'error') {
              errors++
              expect({ ...label, allowed: ALLOWED_ERRORS.includes(answer.error!.type) }).toEqual({ ...label, allowed: true })
            }
            if (prediction.kind === 'error') {
              expect({ ...label, answer }).toEqual({
                ...label,
                answer: { type: 'error', error: { type: prediction.type, message: expect.any(String) }, data: null },
              })
            } else if (prediction.kind === 'reaction') {
              expect({ ...label, answer }).toEqual({
                ...label,
                answer: {
                  type: 'reaction',
                  error: null,
                  data: { id: expect.any(Number), messageId: prediction.messageId, emoji: prediction.emoji, user: fuzzer.user, on: prediction.on },
                },
              })
              reactions++
              model.events.push(answer.data.id)
              const emojis = model.reactions.get(prediction.messageId) ?? new Map<string, Set<number>>()
              model.reactions.set(prediction.messageId, emojis)
              const users = emojis.get(prediction.emoji) ?? new Set<number>()
              if (prediction.on) emojis.set(prediction.emoji, users.add(fuzzer.user.id))
              else {
                users.delete(fuzzer.user.id)
                if (users.size === 0) emojis.delete(prediction.emoji)
              }
            } else if (answer.type === 'error') {
              expect({ ...label, answer: answer.error!.type, mayRefuse: prediction.orInvalid }).toEqual({
                ...label,
                answer: 'MESSAGE_INVALID',
                mayRefuse: true,
              })
            } else {
              const expected: Record<string, unknown> = {
                id: expect.any(Number),
                room: ROOM,
                user: fuzzer.user,
                text: cmd.type === 'message' ? cmd.text : '',
                nonce,
              }
              if (prediction.replyTo) expected.replyTo = prediction.replyTo
              expect({ ...label, answer: answer.type, data: answer.data }).toEqual({ ...label, answer: 'message', data: expect.objectContaining(expected) })
              if (!prediction.replyTo) expect({ ...label, replyTo: answer.data.replyTo }).toEqual({ ...label, replyTo: undefined })
              add(answer.data, prediction.replyTo?.id)
            }
          }

          // Exactly one answer per frame: no stray errors or reactions.
          await sync(socket)
          const after = socket.frames.slice(start)
          expect(after.filter((f) => f.type === 'error').length).toBe(errors)
          expect(after.filter((f) => (f.type as string) === 'reaction' && f.data.user.id === fuzzer.user.id).length).toBe(reactions)
          expect(socket.frames.filter((f) => f.type === 'error' && !ALLOWED_ERRORS.includes(f.error!.type))).toEqual([])

          // Storage is the model: nothing kept from a refusal, quotes and reactions as they are now.
          const ids = [...model.messages.keys()].sort((a, b) => a - b)
          expect((await historyAs(server, fuzzer)).map(comparable)).toEqual(ids.map((id) => model.shown(id, fuzzer.user.id)))
          expect((await historyAs(server)).map(comparable)).toEqual(ids.map((id) => model.shown(id, null)))
        }

        await fc.assert(
          fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => run(commands)),
          { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: TIME_MS, endOnFailure: true },
        )

        if (process.env.FUZZ_STATS) console.log(store.name, stats, 'most emoji on a message:', Math.max(...[...model.reactions.values()].map((e) => e.size)))
        // The observer saw every reaction the fuzzer's socket saw, and the room still works for everyone.
        await sync(socket)
        await sync(observer)
        const reactionIds = (s: TestSocket) => s.frames.filter((f) => (f.type as string) === 'reaction').map((f) => f.data.id)
        expect(reactionIds(observer)).toEqual(reactionIds(socket))
        expect(socket.ws.readyState).toBe(WebSocket.OPEN)
        const last = await post(otherIn, 'still alive')
        await frameWhere(observer, (f) => f.type === 'message' && f.data.id === last.id, WAIT_MS, 'the last message')
      },
      TEST_TIMEOUT_MS,
    )
  })
}
