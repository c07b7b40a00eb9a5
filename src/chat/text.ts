/** Lengths as the spec counts them: in Unicode code points (usernames, message texts, topics, nonces). */

/** True when `text` has more than `max` code points; stops counting as soon as it knows. */
export function exceedsCodePoints(text: string, max: number): boolean {
  if (text.length <= max) return false
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // A high surrogate pairs only with a low one; a lone surrogate is a code point of its own.
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
    if (++n > max) return true
  }
  return false
}
