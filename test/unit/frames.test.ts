/**
 * Client frames (spec §3): `{"type":"message","text","nonce"}` and `{"type":"ping"}`; anything else,
 * text that shows nothing (empty after trimming, or only invisible characters: spec §2), text over
 * the limit in Unicode code points, or a nonce that is not a string of at most 64 characters is
 * MESSAGE_INVALID.
 */
import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { LIMITS } from '../../src/protocol.ts'
import { exceedsCodePoints } from '../../src/chat/text.ts'
import { encodeError, encodeFrame, parseClientFrame, PONG_FRAME } from '../../src/ws/frames.ts'

const { TEXT_MAX_LENGTH, NONCE_MAX_LENGTH } = LIMITS

function parse(raw: string, max: number = TEXT_MAX_LENGTH) {
  return parseClientFrame(raw, max)
}

/** The AppError type parsing `raw` throws, or undefined. */
function thrownType(raw: string, max: number = TEXT_MAX_LENGTH): string | undefined {
  try {
    parse(raw, max)
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    return (err as AppError).type
  }
  return undefined
}

describe('parseClientFrame', () => {
  test('a ping frame parses, extra fields ignored', () => {
    expect(parse('{"type":"ping"}')).toEqual({ type: 'ping' })
    expect(parse('{"type":"ping","text":"x","id":1}')).toEqual({ type: 'ping' })
  })

  test('a message frame parses with and without a nonce', () => {
    expect(parse('{"type":"message","text":"hi","nonce":"n1"}')).toEqual({ type: 'message', text: 'hi', nonce: 'n1' })
    expect(parse('{"type":"message","text":"hi"}')).toEqual({ type: 'message', text: 'hi', nonce: undefined })
    expect(parse('{"type":"message","text":"hi","extra":true}')).toEqual({ type: 'message', text: 'hi', nonce: undefined })
  })

  test('the text is kept as sent, surrounding whitespace included', () => {
    expect(parse(JSON.stringify({ type: 'message', text: '  hi\n there  ' }))).toMatchObject({ text: '  hi\n there  ' })
  })

  test('a frame that is not JSON is MESSAGE_INVALID', () => {
    for (const raw of ['', 'hi', '{"type":"ping"', "{'type':'ping'}", 'undefined']) expect(thrownType(raw)).toBe('MESSAGE_INVALID')
  })

  test('JSON that is not an object is MESSAGE_INVALID', () => {
    for (const raw of ['null', '[]', '[{"type":"ping"}]', '"ping"', '1', 'true']) expect(thrownType(raw)).toBe('MESSAGE_INVALID')
  })

  test('a missing or unknown type is MESSAGE_INVALID', () => {
    for (const raw of ['{}', '{"text":"hi"}', '{"type":"Message","text":"hi"}', '{"type":"PING"}', '{"type":"join"}', '{"type":1}']) {
      expect(thrownType(raw)).toBe('MESSAGE_INVALID')
    }
  })

  test('text that is missing, not a string, or empty after trimming is MESSAGE_INVALID', () => {
    for (const text of [undefined, null, 1, ['hi'], '', ' ', '\n\t ', '\u00a0\u3000']) {
      expect(thrownType(JSON.stringify({ type: 'message', text }))).toBe('MESSAGE_INVALID')
    }
  })

  test('text that shows nothing (whitespace, control, format, default-ignorable) is MESSAGE_INVALID; text that contains some passes', () => {
    for (const text of [
      '\u200b',
      '\u200c\u200d',
      '\u2060',
      '\ufeff',
      '\u3164',
      '\u115f\u1160\uffa0',
      '\ufe0f',
      '\u{e0100}',
      '\u202e',
      '\u00ad',
      '\u2800',
      '\u0001',
      ' \u200b\t',
    ]) {
      expect(`${JSON.stringify(text)}: ${thrownType(JSON.stringify({ type: 'message', text }))}`).toBe(`${JSON.stringify(text)}: MESSAGE_INVALID`)
    }
    // Merely containing such characters is fine.
    for (const text of ['hi\u200b', '\u200bhi', '👨‍👩‍👧', '❤️', 'a\u202eb', '\u3164x', 'é', '\u0301']) {
      expect(parse(JSON.stringify({ type: 'message', text }))).toEqual({ type: 'message', text, nonce: undefined })
    }
  })

  test('text of exactly the limit in code points passes; one more fails', () => {
    expect(parse(JSON.stringify({ type: 'message', text: 'a'.repeat(TEXT_MAX_LENGTH) }))).toMatchObject({ text: 'a'.repeat(TEXT_MAX_LENGTH) })
    expect(thrownType(JSON.stringify({ type: 'message', text: 'a'.repeat(TEXT_MAX_LENGTH + 1) }))).toBe('MESSAGE_INVALID')
  })

  test('astral characters count once: 4000 emoji pass, 4001 fail', () => {
    const text = '😀'.repeat(TEXT_MAX_LENGTH)
    expect(text.length).toBe(2 * TEXT_MAX_LENGTH)
    expect(parse(JSON.stringify({ type: 'message', text }))).toMatchObject({ text })
    expect(thrownType(JSON.stringify({ type: 'message', text: text + 'a' }))).toBe('MESSAGE_INVALID')
  })

  test('the limit is the one passed in', () => {
    expect(parse(JSON.stringify({ type: 'message', text: 'abc' }), 3)).toMatchObject({ text: 'abc' })
    expect(thrownType(JSON.stringify({ type: 'message', text: 'abcd' }), 3)).toBe('MESSAGE_INVALID')
  })

  test('text with a lone surrogate is MESSAGE_INVALID', () => {
    expect(thrownType('{"type":"message","text":"a\\ud800b"}')).toBe('MESSAGE_INVALID')
  })

  test(`a nonce of up to ${NONCE_MAX_LENGTH} characters passes; longer or not a string fails`, () => {
    expect(NONCE_MAX_LENGTH).toBe(64)
    expect(parse(JSON.stringify({ type: 'message', text: 'hi', nonce: 'n'.repeat(64) }))).toMatchObject({ nonce: 'n'.repeat(64) })
    expect(parse(JSON.stringify({ type: 'message', text: 'hi', nonce: '' }))).toMatchObject({ nonce: '' })
    expect(thrownType(JSON.stringify({ type: 'message', text: 'hi', nonce: 'n'.repeat(65) }))).toBe('MESSAGE_INVALID')
    for (const nonce of [1, null, true, ['n'], { n: 1 }]) {
      expect(thrownType(JSON.stringify({ type: 'message', text: 'hi', nonce }))).toBe('MESSAGE_INVALID')
    }
  })
})

describe('exceedsCodePoints', () => {
  test('counts code points, not UTF-16 units', () => {
    expect(exceedsCodePoints('', 0)).toBe(false)
    expect(exceedsCodePoints('a', 0)).toBe(true)
    expect(exceedsCodePoints('abc', 3)).toBe(false)
    expect(exceedsCodePoints('abcd', 3)).toBe(true)
    expect(exceedsCodePoints('😀😀😀', 3)).toBe(false)
    expect(exceedsCodePoints('😀😀😀😀', 3)).toBe(true)
    expect(exceedsCodePoints('a😀b', 3)).toBe(false)
    expect(exceedsCodePoints('a😀bc', 3)).toBe(true)
  })

  test('agrees with the string iterator, lone surrogates included', () => {
    const samples = ['a\ud800b', '\ud800\ud800', '\udc00\ud800', 'ab\ud800', '\ud83d\ude00\ud800x', 'é\u0301😀']
    for (const text of samples) {
      const n = [...text].length
      expect(`${JSON.stringify(text)}: ${exceedsCodePoints(text, n)} ${exceedsCodePoints(text, n - 1)}`).toBe(`${JSON.stringify(text)}: false true`)
    }
  })
})

describe('server frames', () => {
  test('a frame is the envelope plus its type', () => {
    expect(JSON.parse(PONG_FRAME)).toEqual({ type: 'pong', error: null, data: null })
    const user = { id: 1, username: 'alice' }
    expect(JSON.parse(encodeFrame({ type: 'join', data: { user } }))).toEqual({ type: 'join', error: null, data: { user } })
  })

  test('an error frame has type "error", the error set and data null', () => {
    expect(JSON.parse(encodeError('RATE_LIMITED', 'slow down'))).toEqual({ type: 'error', error: { type: 'RATE_LIMITED', message: 'slow down' }, data: null })
  })
})
