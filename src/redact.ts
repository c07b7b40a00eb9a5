/** Credentials out of anything printed: the password of a DATABASE or REDIS_URL never reaches a log or terminal. */

/**
 * `scheme://user:password@`, also in URLs that do not parse. The password runs to the last `@` of
 * the word: an unencoded `@` or `/` in it (which breaks parsing) must not leave its tail showing.
 */
const CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/"'<>]*):[^\s"'<>]*@/gi
const STARTS_WITH_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i
/** A password given as a query parameter (`?password=`, libpq's `sslpassword=`), which PostgreSQL's URLs accept too. */
const QUERY_PASSWORD = /([?&](?:ssl)?password=)[^&#\s"'<>]*/gi

/**
 * `text` with the password of every URL in it replaced by `***`, the user name kept:
 * `postgres://chat:s3cret@db/chat` → `postgres://chat:***@db/chat`. `text` may be a URL or a
 * sentence quoting some, such as a client's error message.
 */
export function redactUrl(text: string): string {
  if (!text.includes('://')) return text
  const masked = text.replace(CREDENTIALS, '$1:***@').replace(QUERY_PASSWORD, '$1***')
  // A space or a quote in a password stops the pattern short; for a whole URL the parser knows where it ends.
  const whole = masked.trim()
  if (STARTS_WITH_SCHEME.test(whole) && URL.canParse(whole)) {
    const url = new URL(whole)
    if (url.password !== '' && url.password !== '***') {
      url.password = '***'
      return url.href
    }
  }
  return masked
}
