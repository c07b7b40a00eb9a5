/**
 * Username and secret rules (spec §2), as pure functions: a username is judged after NFC, counted
 * in code points (at most 32), with no leading/trailing whitespace and no control character; the
 * uniqueness key ignores case; a secret is 1-1024 bytes of UTF-8.
 */
import { describe, expect, test } from 'bun:test'
import { checkSecret, checkUsername, SECRET_MAX_BYTES, USERNAME_MAX_CODE_POINTS, usernameKey } from '../../src/chat/users.ts'
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
    for (const name of ['日本語', 'Ωμέγα', 'عربي', 'Ñandú', 'user_name-1.0', 'a+b@c', '👩‍💻', 'x\u200dy']) {
      expect(checkUsername(name)).toBe(name.normalize('NFC'))
    }
  })
})

describe('usernameKey', () => {
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
