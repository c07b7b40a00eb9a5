/**
 * Username and secret rules (spec §2), as pure functions: a username is judged after NFC, counted
 * in code points (at most 32), with no leading/trailing whitespace and no control character; names
 * that could pass for someone else (invisible and format characters, whitespace other than U+0020,
 * a leading combining mark) are refused, RFC 8265's UsernameCasePreserved being the model. The
 * uniqueness key is Unicode's compatibility caseless match (full case folding, CaseFolding.txt C+F,
 * plus NFKC); a secret is 1-1024 bytes of UTF-8.
 */
import { describe, expect, test } from 'bun:test'
import { checkUsername, foldedKey, KEY_RULE, USERNAME_MAX_CODE_POINTS, usernameKey } from '../../src/chat/usernames.ts'
import { checkSecret, SECRET_MAX_BYTES } from '../../src/chat/users.ts'
import { AppError } from '../../src/errors.ts'

/** The AppError type `fn` throws, or undefined when it returns. */
function thrownType(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    return (err as AppError).type
  }
  return undefined
}

/** The BAD_USERNAME message checkUsername gives for `name` (fails the test if it accepts it). */
function refusal(name: string): string {
  try {
    checkUsername(name)
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).type).toBe('BAD_USERNAME')
    return (err as AppError).message
  }
  throw new Error(`${JSON.stringify(name)} was accepted`)
}

/** Each name in `names` is refused with a message matching `reason`. */
function expectRefused(names: string[], reason: RegExp): void {
  for (const name of names) expect(`${JSON.stringify(name)}: ${refusal(name)}`).toMatch(new RegExp(`: .*${reason.source}`))
}

describe('checkUsername', () => {
  test('the limits are 32 code points and 1024 bytes', () => {
    expect(USERNAME_MAX_CODE_POINTS).toBe(32)
    expect(SECRET_MAX_BYTES).toBe(1024)
  })

  test('a plain name is returned unchanged, case kept', () => {
    expect(checkUsername('Alice')).toBe('Alice')
    expect(checkUsername('a')).toBe('a')
    expect(checkUsername('Alice Smith')).toBe('Alice Smith')
  })

  test('a decomposed name is returned in NFC', () => {
    expect(checkUsername('Ame\u0301lie')).toBe('Am\u00e9lie')
    expect(checkUsername('\u1100\u1161')).toBe('\uac00')
  })

  test('32 code points pass and 33 fail, counted in code points not UTF-16 units', () => {
    expect(checkUsername('a'.repeat(32))).toBe('a'.repeat(32))
    expect(thrownType(() => checkUsername('a'.repeat(33)))).toBe('BAD_USERNAME')
    expect(checkUsername('😀'.repeat(32))).toBe('😀'.repeat(32))
    expect(thrownType(() => checkUsername('😀'.repeat(33)))).toBe('BAD_USERNAME')
    expect(checkUsername('😀'.repeat(16) + 'a'.repeat(16))).toHaveLength(48)
  })

  test('the count is taken after NFC', () => {
    expect(checkUsername('e\u0301'.repeat(32))).toBe('\u00e9'.repeat(32))
    expect(thrownType(() => checkUsername('e\u0301'.repeat(33)))).toBe('BAD_USERNAME')
  })

  test('a combining mark that does not compose still counts as a code point', () => {
    // "q" + U+0301 has no precomposed form: 2 code points each.
    expect(checkUsername('q\u0301'.repeat(16))).toHaveLength(32)
    expect(thrownType(() => checkUsername('q\u0301'.repeat(16) + 'a'))).toBe('BAD_USERNAME')
  })

  test('an empty name is BAD_USERNAME', () => {
    expect(thrownType(() => checkUsername(''))).toBe('BAD_USERNAME')
  })

  test('leading or trailing whitespace, ASCII or Unicode, is BAD_USERNAME', () => {
    for (const name of [' a', 'a ', ' ', '\u00a0a', 'a\u00a0', '\u2003a', 'a\u3000', '\u2028a', 'a\ufeff']) {
      expect(`${JSON.stringify(name)}: ${thrownType(() => checkUsername(name))}`).toBe(`${JSON.stringify(name)}: BAD_USERNAME`)
    }
  })

  test('a control character anywhere is BAD_USERNAME', () => {
    for (const c of ['\u0000', '\u0001', '\t', '\n', '\r', '\u001b', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f']) {
      const name = `a${c}b`
      expect(`${JSON.stringify(name)}: ${thrownType(() => checkUsername(name))}`).toBe(`${JSON.stringify(name)}: BAD_USERNAME`)
    }
  })

  test('a lone surrogate is BAD_USERNAME', () => {
    expect(thrownType(() => checkUsername('a\ud800b'))).toBe('BAD_USERNAME')
    expect(thrownType(() => checkUsername('a\udc00'))).toBe('BAD_USERNAME')
  })

  test('letters, digits, punctuation, symbols and emoji from any script pass', () => {
    for (const name of ['日本語', 'Ωμέγα', 'عربي', 'Ñandú', 'user_name-1.0', 'a+b@c', '한글', 'Amélie Poulain']) {
      expect(checkUsername(name)).toBe(name.normalize('NFC'))
    }
  })

  test('zero-width characters are BAD_USERNAME, saying they are invisible', () => {
    // ZWSP, ZWNJ, ZWJ between letters, word joiner, BOM inside, soft hyphen, CGJ, Mongolian vowel separator.
    expectRefused(['a\u200bb', '\u200b', 'a\u200cb', 'x\u200dy', 'a\u2060b', 'a\ufeffb', 'a\u00adb', 'a\u034fb', 'a\u180eb'], /invisible/)
  })

  test('bidi controls are BAD_USERNAME: RLO, RLM, LRI/PDI, the Arabic letter mark', () => {
    expectRefused(['a\u202eb', '\u202eecila', 'a\u200fb', 'a\u2066b\u2069', 'a\u061cb'], /invisible/)
  })

  test('variation selectors and tag characters are BAD_USERNAME', () => {
    expectRefused(['a\ufe0fb', '\u2764\ufe0f', '\u{1f3f3}\ufe0f', 'a\u{e0100}', 'a\u{e0041}'], /invisible/)
  })

  test('fillers that render as blank are BAD_USERNAME: Hangul fillers and the blank Braille pattern', () => {
    expectRefused(['\u3164', 'a\u3164b', '\u115f', '\u1160', 'a\uffa0', 'a\u2800b', '\u2800'], /invisible/)
  })

  test('whitespace other than U+0020 inside a name is BAD_USERNAME', () => {
    expectRefused(['a\u00a0b', 'a\u2003b', 'a\u3000b', 'a\u202fb', 'a\u1680b', 'a\u2009b'], /U\+0020/)
    expect(checkUsername('a b')).toBe('a b')
  })

  test('a name of combining marks only, or starting with one, is BAD_USERNAME', () => {
    expectRefused(['\u0301', '\u0301\u0302', '\u20dd', '\u0301a', '\u093fक'], /combining mark/)
    expect(checkUsername('a\u0301')).toBe('\u00e1')
    expect(checkUsername('क\u093f')).toBe('कि')
  })

  test('unassigned, noncharacter and private-use code points are BAD_USERNAME', () => {
    expectRefused(['a\u{50000}', 'a\u0378', 'a\ufdd0', 'a\uffff', 'a\ue000', 'a\u{f0000}'], /unassigned or private-use/)
  })

  test('each refused class has its own message', () => {
    const messages = ['', ' a', 'a\u0001', 'a\u00a0b', 'a\u200bb', '\u0301a', 'a\ue000', 'a'.repeat(33), 'a\ud800'].map(refusal)
    expect(new Set(messages).size).toBe(messages.length)
  })

  test('a zero width joiner inside an emoji ZWJ sequence is part of the picture and passes', () => {
    // woman technologist, with a skin tone, family, and two in a name.
    for (const name of ['👩‍💻', '👩🏽‍💻', '👨‍👩‍👧', 'dev 👩‍💻 and 👨‍👩‍👧']) expect(checkUsername(name)).toBe(name)
    expectRefused(['👩\u200d', '\u200d💻', 'a\u200d💻', '👩\u200da'], /invisible/)
  })
})

describe('usernameKey', () => {
  // Start-up re-keys only accounts made since its last check under the same KEY_RULE: a change to
  // usernameKey that fails this test must bump RULE in src/chat/usernames.ts, so every account is re-keyed.
  test('its keys are pinned: a change that moves one needs a new KEY_RULE', () => {
    const names = ['Alice', 'STRAẞE', 'ΟΔΟΣ', 'alıce', 'ｂｏｂ', 'Ꭰ', 'ﬁ', '\u212a', 'ᾼ', 'Ame\u0301lie', '𝐚𝐥𝐢𝐜𝐞', 'ǅ', '①', 'İstanbul']
    expect(Object.fromEntries(names.map((n) => [n, usernameKey(n)]))).toEqual({
      Alice: 'alice',
      STRAẞE: 'strasse',
      ΟΔΟΣ: 'οδοσ',
      alıce: 'alıce',
      ｂｏｂ: 'bob',
      Ꭰ: 'Ꭰ',
      ﬁ: 'fi',
      '\u212a': 'k',
      ᾼ: 'αι',
      'Ame\u0301lie': 'amélie',
      '𝐚𝐥𝐢𝐜𝐞': 'alice',
      ǅ: 'dž',
      '①': '1',
      İstanbul: 'i̇stanbul',
    })
    expect(KEY_RULE).toBe(`2/unicode-${process.versions.unicode}`)
  })

  test('names that differ only in case share a key', () => {
    expect(usernameKey('Alice')).toBe(usernameKey('alice'))
    expect(usernameKey('ALICE')).toBe(usernameKey('aLiCe'))
    expect(usernameKey('ΩΜΈΓΑ')).toBe(usernameKey('ωμέγα'))
    expect(usernameKey('ÉMILE')).toBe(usernameKey('émile'))
  })

  test('the two normal forms of a name share a key', () => {
    expect(usernameKey('Ame\u0301lie')).toBe(usernameKey('Am\u00e9lie'))
    expect(usernameKey('AME\u0301LIE')).toBe(usernameKey('am\u00e9lie'))
  })

  test('full case folding: "ß" matches "SS" and final sigma matches sigma', () => {
    expect(usernameKey('straße')).toBe(usernameKey('STRASSE'))
    expect(usernameKey('ΟΔΟΣ')).toBe(usernameKey('οδος'))
    expect(usernameKey('οδος')).toBe(usernameKey('οδοσ'))
  })

  test('different names get different keys', () => {
    expect(usernameKey('alice')).not.toBe(usernameKey('alice2'))
    expect(usernameKey('alice')).not.toBe(usernameKey('alíce'))
    expect(usernameKey('a b')).not.toBe(usernameKey('ab'))
  })

  test('the key is itself NFC', () => {
    const key = usernameKey('AME\u0301LIE')
    expect(key).toBe(key.normalize('NFC'))
  })

  // Known pairs from CaseFolding.txt (statuses C and F; T, the Turkic one, is not applied).
  test('full case folding: ß, ẞ and SS are one name', () => {
    expect(usernameKey('STRAẞE')).toBe(usernameKey('straße'))
    expect(usernameKey('ẞ')).toBe(usernameKey('ss'))
    expect(usernameKey('ß')).toBe(usernameKey('SS'))
    expect(usernameKey('STRAẞE')).toBe('strasse')
  })

  test('full case folding: ς, σ and Σ are one letter wherever they stand', () => {
    expect(usernameKey('ς')).toBe(usernameKey('σ'))
    expect(usernameKey('Σ')).toBe(usernameKey('σ'))
    expect(usernameKey('ΟΔΟΣ')).toBe('οδοσ')
  })

  test('full case folding: ligatures, Kelvin and ohm signs, Greek iota subscript, titlecase digraphs', () => {
    expect(usernameKey('ﬁ')).toBe(usernameKey('fi'))
    expect(usernameKey('\u212a')).toBe(usernameKey('k'))
    expect(usernameKey('\u2126')).toBe(usernameKey('ω'))
    expect(usernameKey('\u212b')).toBe(usernameKey('å'))
    expect(usernameKey('ᾳ')).toBe(usernameKey('αι'))
    expect(usernameKey('ᾼ')).toBe(usernameKey('ΑΙ'))
    expect(usernameKey('ǅ')).toBe(usernameKey('ǆ'))
    expect(usernameKey('ǅ')).toBe(usernameKey('DŽ'))
    expect(usernameKey('ſ')).toBe(usernameKey('s'))
    expect(usernameKey('Ꭰ')).toBe(usernameKey('ꭰ'))
  })

  test('Turkish dotless ı is not folded to i, and İ folds to i with a combining dot', () => {
    expect(usernameKey('ı')).not.toBe(usernameKey('i'))
    expect(usernameKey('alıce')).not.toBe(usernameKey('alice'))
    expect(usernameKey('I')).toBe('i')
    expect(usernameKey('İ')).toBe('i\u0307')
  })

  test('fullwidth, halfwidth and other compatibility forms are accepted as typed and share the key of their plain form', () => {
    for (const name of ['ａｌｉｃｅ', 'ｱﾘｽ', '𝐚𝐥𝐢𝐜𝐞', 'ﬁsh']) expect(checkUsername(name)).toBe(name)
    expect(usernameKey('ａｌｉｃｅ')).toBe(usernameKey('alice'))
    expect(usernameKey('ＡＬＩＣＥ')).toBe(usernameKey('alice'))
    expect(usernameKey('ｱﾘｽ')).toBe(usernameKey('アリス'))
    expect(usernameKey('𝐚𝐥𝐢𝐜𝐞')).toBe(usernameKey('alice'))
    expect(usernameKey('ⓐlice')).toBe(usernameKey('alice'))
    expect(usernameKey('user²')).toBe(usernameKey('user2'))
  })

  test("the case folding data is for the Unicode version of Bun's own tables (regular expressions, normalize)", () => {
    // A Bun with a newer Unicode would accept characters (no longer \p{Cn}) that the folding data
    // does not know: move the @unicode/unicode-X package to that version with it.
    expect(process.versions.unicode).toBe('17.0')
  })

  test('an ASCII name is keyed by its lower case, as the full folding keys it', () => {
    const ascii = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c))
    for (const c of ascii) expect(usernameKey(c)).toBe(foldedKey(c))
    for (const name of ['Alice', 'BOB_42', 'Mixed.Case-Name', ascii.join(''), 'user12345']) expect(usernameKey(name)).toBe(foldedKey(name))
    // One character past ASCII takes the full path.
    expect(usernameKey('STRAẞE')).toBe('strasse')
  })

  test('the key is stable: folding a key again gives the same key, for every code point', () => {
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp === 0xd800) cp = 0xe000
      const key = usernameKey(String.fromCodePoint(cp))
      if (usernameKey(key) !== key || key !== key.normalize('NFKC')) expect(`U+${cp.toString(16)} → ${JSON.stringify(key)}`).toBe('stable')
    }
  })
})

describe('checkSecret', () => {
  test('an empty secret is BAD_PASSWORD', () => {
    expect(thrownType(() => checkSecret(''))).toBe('BAD_PASSWORD')
  })

  test('1024 bytes pass and 1025 fail, counted in UTF-8 bytes', () => {
    expect(thrownType(() => checkSecret('a'.repeat(1024)))).toBeUndefined()
    expect(thrownType(() => checkSecret('a'.repeat(1025)))).toBe('BAD_PASSWORD')
    expect(thrownType(() => checkSecret('é'.repeat(512)))).toBeUndefined()
    expect(thrownType(() => checkSecret('é'.repeat(512) + 'a'))).toBe('BAD_PASSWORD')
    expect(thrownType(() => checkSecret('€'.repeat(341) + 'a'))).toBeUndefined()
    expect(thrownType(() => checkSecret('€'.repeat(342)))).toBe('BAD_PASSWORD')
    expect(thrownType(() => checkSecret('🔑'.repeat(256)))).toBeUndefined()
    expect(thrownType(() => checkSecret('🔑'.repeat(256) + 'a'))).toBe('BAD_PASSWORD')
  })

  test('no other rules: whitespace, control characters and one character pass', () => {
    for (const secret of [' ', '   ', 'x', '\u0000', '\t\n', ' padded ', 'e\u0301']) {
      expect(thrownType(() => checkSecret(secret))).toBeUndefined()
    }
  })
})
