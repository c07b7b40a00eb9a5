/**
 * Mentions (spec §6): `@` followed by the name of someone who can read the room, case as for
 * uniqueness; of the names that fit, the longest that ends at the end of the text, at whitespace or
 * at one of `, . : ; ! ? ) ] } ' "`. Usernames may hold spaces and dots, so "@Mary Ann." can name
 * "Mary Ann" or "Mary": every prefix that ends at a boundary is a candidate, and one look-up of all
 * their keys decides.
 */
import type { User } from '../protocol.ts'
import type { Store } from '../store/store.ts'
import { USERNAME_MAX_CODE_POINTS, usernameKey } from './usernames.ts'

const BOUNDARY = /[\s,.:;!?)\]}'"]/u
/** `@`s looked at per text: a text of 4000 `@`s must not cost 4000 × 32 look-ups. */
export const MENTIONS_MAX = 20

/** For each `@` (the first MENTIONS_MAX), the names it could start, longest first. */
export function mentionCandidates(text: string): string[][] {
  const found: string[][] = []
  for (let at = text.indexOf('@'); at !== -1 && found.length < MENTIONS_MAX; at = text.indexOf('@', at + 1)) {
    const names: string[] = []
    // A username never starts with whitespace (spec §2).
    if (/\s/u.test(text[at + 1] ?? ' ')) continue
    let end = at + 1
    for (let points = 0; points < USERNAME_MAX_CODE_POINTS && end < text.length; points++) {
      end += text.codePointAt(end)! > 0xffff ? 2 : 1
      if (end === text.length || BOUNDARY.test(text[end]!)) names.push(text.slice(at + 1, end))
    }
    if (names.length > 0) found.push(names.reverse())
  }
  return found
}

export type MentionStore = Pick<Store, 'findUsersByKeys' | 'roomAccess' | 'membersAmong'>

/**
 * Who `text` mentions in `room`, in the order they appear, each once. In a private room only members
 * count (the store checks again when it commits, so a member removed meanwhile is not mentioned).
 */
export async function resolveMentions(store: MentionStore, room: string, text: string): Promise<User[]> {
  const candidates = mentionCandidates(text)
  if (candidates.length === 0) return []
  const keys = [...new Set(candidates.flat().map(usernameKey))]
  const users = new Map((await store.findUsersByKeys(keys)).map((u) => [u.usernameKey, { id: u.id, username: u.username }]))
  if (users.size === 0) return []
  let readable = (_id: number) => true
  const access = await store.roomAccess(room, null)
  if (access?.visibility === 'private') {
    const members = new Set(
      await store.membersAmong(
        room,
        [...users.values()].map((u) => u.id),
      ),
    )
    readable = (id) => members.has(id)
  }
  const chosen = new Map<number, User>()
  for (const names of candidates) {
    for (const name of names) {
      const user = users.get(usernameKey(name))
      if (user && readable(user.id)) {
        chosen.set(user.id, user)
        break
      }
    }
  }
  return [...chosen.values()]
}
