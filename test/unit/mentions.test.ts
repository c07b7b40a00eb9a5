/** Mention candidates (spec §6): every name an `@` could start, ending at the end, whitespace or , . : ; ! ? ) ] } ' " — longest first. */
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { MENTIONS_MAX, mentionCandidates } from '../../src/chat/mentions.ts'

describe('mentionCandidates', () => {
  test('a name at the end of the text, or before whitespace or a closing punctuation mark', () => {
    expect(mentionCandidates('hi @bob')).toEqual([['bob']])
    expect(mentionCandidates('@bob, look')).toEqual([['bob, look', 'bob,', 'bob']])
    for (const mark of [',', '.', ':', ';', '!', '?', ')', ']', '}', "'", '"']) expect(mentionCandidates(`(@bob${mark}`)[0]).toContain('bob')
  })

  test('names may hold spaces and dots: every prefix that ends at a boundary is a candidate, longest first', () => {
    expect(mentionCandidates('@Mary Ann.')).toEqual([['Mary Ann.', 'Mary Ann', 'Mary']])
    expect(mentionCandidates('@j.doe')).toEqual([['j.doe', 'j']])
  })

  test('no name, no candidate: a bare @, @ before a space, @ at the end', () => {
    expect(mentionCandidates('@')).toEqual([])
    expect(mentionCandidates('a @ b')).toEqual([])
    expect(mentionCandidates('mail me@')).toEqual([])
  })

  test('a candidate never holds more than 32 code points, astral ones counted once', () => {
    const long = 'x'.repeat(40)
    expect(mentionCandidates(`@${long}`)).toEqual([])
    const emoji = '😀'.repeat(32)
    expect(mentionCandidates(`@${emoji}`)).toEqual([[emoji]])
  })

  test(`at most ${MENTIONS_MAX} @s are looked at, however many the text holds`, () => {
    expect(mentionCandidates('@a '.repeat(1000))).toHaveLength(MENTIONS_MAX)
  })

  test('every candidate follows an @ and ends where the rule says, for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'B', ' ', '@', '.', ',', '!', 'é', '😀', '\n'), maxLength: 80 }), (text) => {
        for (const names of mentionCandidates(text)) {
          for (const name of names) {
            const fits = [...text.matchAll(/@/g)].some(
              (m) => text.startsWith(name, m.index + 1) && /^$|^[\s,.:;!?)\]}'"]/u.test(text[m.index + 1 + name.length] ?? ''),
            )
            expect({ name, fits }).toEqual({ name, fits: true })
            expect([...name].length).toBeLessThanOrEqual(32)
          }
          expect([...names].sort((a, b) => b.length - a.length)).toEqual(names)
        }
      }),
      { numRuns: 500 },
    )
  })
})
