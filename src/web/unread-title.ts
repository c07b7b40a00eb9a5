/**
 * Unread counts in the tab (spec §6): "(3) Chat" in the title and a badge drawn on the favicon, an
 * SVG data URL (the page's CSP allows `img-src 'self' data:`; no inline style is involved).
 */

const FAVICON_MARK = '<rect width="32" height="32" rx="8" fill="#4f46e5"/><path d="M8 9h16v11H13l-5 4z" fill="#fff"/>'

let base = 'Chat'
let unread = 0
let mentions = 0
let originalIcon: string | undefined

/** The title without counts, as the page's route names it. */
export function setBaseTitle(title: string): void {
  base = title
  apply()
}

export function setUnreadCounts(nextUnread: number, nextMentions: number): void {
  if (nextUnread === unread && nextMentions === mentions) return
  unread = nextUnread
  mentions = nextMentions
  apply()
}

/** The favicon with a badge: red with the count, "@" when a mention is among them. */
export function faviconWithBadge(count: number, mentioned: boolean): string {
  const label = count > 99 ? '99+' : String(count)
  const size = label.length > 2 ? 11 : 14
  const text = mentioned ? '@' : label
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">${FAVICON_MARK}` +
    `<circle cx="22" cy="10" r="10" fill="#dc2626" stroke="#fff" stroke-width="2"/>` +
    `<text x="22" y="15" font-family="Arial,sans-serif" font-weight="700" font-size="${size}" text-anchor="middle" fill="#fff">${text}</text></svg>`
  return `data:image/svg+xml,${encodeURIComponent(svg)}`
}

function apply(): void {
  document.title = unread > 0 ? `(${unread}) ${base}` : base
  const link = document.getElementById('favicon') as HTMLLinkElement | null
  if (!link) return
  originalIcon ??= link.href
  const href = unread > 0 ? faviconWithBadge(unread, mentions > 0) : originalIcon
  if (link.href !== href) link.href = href
  link.dataset.unread = String(unread)
}
