/**
 * The text rules of the wire (spec §2), declared once for usernames, message texts and the web client.
 * Imports nothing.
 */

/**
 * Format characters (Cf: zero-width space, word joiner, BOM, bidi controls, tags) and
 * Default_Ignorable_Code_Point (variation selectors, soft hyphen, the Hangul fillers U+115F U+1160
 * U+3164 U+FFA0, ...). U+2800 BRAILLE PATTERN BLANK is neither, but it is an empty cell that
 * renders as a space and is the usual way to pass for "nothing" where those are filtered.
 */
export const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/u

const VISIBLE = /[^\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/u

/** True when `text` shows nothing: it is empty or only whitespace, control and invisible characters. */
export function showsNothing(text: string): boolean {
  return !VISIBLE.test(text)
}
