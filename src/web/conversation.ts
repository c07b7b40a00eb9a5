/**
 * Spec §7 on screen: a reply's quote, reaction chips and the emoji picker, attachments (inline images
 * with a lightbox, download links), and a search excerpt with its matches marked. Everything from the
 * server enters the page as text or as attributes, never as markup.
 */
import type { Attachment, Quote, ReactionCount } from '../protocol.ts'
import type { Excerpt } from '../protocol-conversation.ts'
import { byId, el } from './dom.ts'

/** The picker's quick choices; any other emoji can be typed in its box. */
export const COMMON_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀']

/** What a quote of a deleted message says. */
export const QUOTE_DELETED = 'deleted message'

const SEGMENTER = new Intl.Segmenter(undefined, { granularity: 'grapheme' })
const EMOJI = /^\p{RGI_Emoji}$/v

/** The first grapheme of `input` when it is one recommended emoji (what the server accepts), else undefined. */
export function oneEmoji(input: string): string | undefined {
  const trimmed = input.trim()
  const first = SEGMENTER.segment(trimmed)[Symbol.iterator]().next().value?.segment
  if (!first || first !== trimmed) return undefined
  // Fully-qualify a bare heart-like symbol typed without its variation selector.
  for (const candidate of [first, `${first}\uFE0F`]) if (EMOJI.test(candidate)) return candidate
  return undefined
}

/** The quote above a reply (or above the composer): author and text, or "deleted message". */
export function renderQuote(quote: Quote, className = 'quote'): HTMLElement {
  const box = el('blockquote', className)
  box.dataset.quoteId = String(quote.id)
  const author = el('span', 'quote-author', quote.user.username)
  const text = el('span', 'quote-text', quote.text ?? QUOTE_DELETED)
  if (quote.text === null) box.classList.add('quote-deleted')
  box.append(author, text)
  return box
}

/** `1.2 MB` and the like. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB']
  let n = bytes / 1024
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[i]}`
}

/** The chips under a message: emoji and count, `me` highlighted; a click toggles one's own reaction. */
export function renderReactions(reactions: ReactionCount[], onToggle: ((emoji: string, on: boolean) => void) | undefined): HTMLElement {
  const row = el('div', 'reactions')
  for (const r of reactions) {
    const chip = el('button', `reaction-chip${r.me ? ' me' : ''}`)
    chip.type = 'button'
    chip.dataset.emoji = r.emoji
    chip.setAttribute('aria-pressed', String(r.me))
    chip.setAttribute('aria-label', `${r.emoji} ${r.count}${r.me ? ', including you' : ''}`)
    chip.append(el('span', 'reaction-emoji', r.emoji), el('span', 'reaction-count', String(r.count)))
    if (onToggle) chip.addEventListener('click', () => onToggle(r.emoji, !r.me))
    else chip.disabled = true
    row.append(chip)
  }
  return row
}

/** A small panel of common emoji and a box for any other one; `pick` gets the chosen emoji. */
export function renderPicker(pick: (emoji: string) => void, close: () => void): HTMLElement {
  const panel = el('div', 'emoji-picker')
  panel.setAttribute('role', 'dialog')
  panel.setAttribute('aria-label', 'Add a reaction')
  for (const emoji of COMMON_EMOJI) {
    const b = el('button', 'emoji-choice', emoji)
    b.type = 'button'
    b.setAttribute('aria-label', `React with ${emoji}`)
    b.addEventListener('click', () => pick(emoji))
    panel.append(b)
  }
  const form = el('form', 'emoji-other')
  const input = el('input', 'emoji-input')
  input.type = 'text'
  input.placeholder = 'Other emoji'
  input.setAttribute('aria-label', 'Any other emoji')
  input.autocomplete = 'off'
  input.maxLength = 32
  const ok = el('button', 'button small', 'Add')
  ok.type = 'submit'
  const error = el('span', 'emoji-error')
  form.append(input, ok)
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const emoji = oneEmoji(input.value)
    if (!emoji) {
      error.textContent = 'One emoji, please.'
      return
    }
    pick(emoji)
  })
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault()
      e.stopPropagation()
      close()
    }
  })
  panel.append(form, error)
  return panel
}

/** The largest an inline image is shown, in CSS pixels (it opens full size in the lightbox). */
const IMAGE_BOX = { width: 352, height: 256 }

/** How an attachment's bytes reach the page: a direct URL, or (for a private room) fetched with the token. */
export interface AttachmentLoader {
  /** The bytes, fetched with the session's token (a private room's files are only served so); undefined when logged out. */
  fetch(a: Attachment): Promise<Blob> | undefined
}

/** Images inline (their size reserved), everything else a download link with name and size. */
export function renderAttachments(attachments: Attachment[], loader: AttachmentLoader): HTMLElement {
  const box = el('div', 'attachments')
  for (const a of attachments) {
    if (a.type.startsWith('image/') && a.width && a.height) {
      const link = el('button', 'attachment-image')
      link.type = 'button'
      link.setAttribute('aria-label', `Open image ${a.name}`)
      const img = el('img')
      img.alt = a.name
      img.width = a.width
      img.height = a.height
      img.decoding = 'async'
      // Its box is sized now, before the bytes arrive (CSSOM, which the page's CSP allows; no style attribute).
      const scale = Math.min(1, IMAGE_BOX.width / a.width, IMAGE_BOX.height / a.height)
      img.style.width = `${Math.max(1, Math.round(a.width * scale))}px`
      img.style.aspectRatio = `${a.width} / ${a.height}`
      link.append(img)
      void loadImage(img, a, loader)
      link.addEventListener('click', () => Lightbox.get().open(img.src, a))
      box.append(link)
    } else {
      const link = el('a', 'attachment-file')
      link.href = a.url
      link.download = a.name
      link.rel = 'noopener'
      link.append(el('span', 'attachment-icon', '📄'), el('span', 'attachment-name', a.name), el('span', 'attachment-size', formatSize(a.size)))
      link.addEventListener('click', (e) => {
        const bytes = loader.fetch(a)
        if (!bytes) return // a public room's file: the browser downloads it itself
        e.preventDefault()
        void download(a, bytes)
      })
      box.append(link)
    }
  }
  return box
}

/** Without a token the image loads from its URL; with one it is fetched with it (a private room's files need it). */
async function loadImage(img: HTMLImageElement, a: Attachment, loader: AttachmentLoader): Promise<void> {
  const bytes = loader.fetch(a)
  if (!bytes) {
    img.src = a.url
    return
  }
  try {
    img.src = await asDataUrl(await bytes)
  } catch {
    img.alt = `${a.name} (could not be loaded)`
    img.classList.add('broken')
  }
}

/** A file fetched with the token, handed to the browser as a download. */
async function download(a: Attachment, bytes: Promise<Blob>): Promise<void> {
  try {
    const url = URL.createObjectURL(await bytes)
    const link = el('a')
    link.href = url
    link.download = a.name
    link.click()
    setTimeout(() => URL.revokeObjectURL(url), 60_000)
  } catch {
    // nothing to show but the link itself; a retry is a click away
  }
}

/** A data: URL (the page's CSP allows images from 'self' and data: only). */
function asDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => resolve(String(reader.result))
    reader.onerror = () => reject(reader.error)
    reader.readAsDataURL(blob)
  })
}

/** One image at full size over the page; Escape, the close button or a click outside closes it. */
export class Lightbox {
  private static instance: Lightbox | undefined
  static get(): Lightbox {
    return (Lightbox.instance ??= new Lightbox())
  }

  private readonly dialog = byId<HTMLDialogElement>('lightbox')
  private readonly img = byId<HTMLImageElement>('lightbox-image')
  private readonly caption = byId('lightbox-caption')

  private constructor() {
    byId('lightbox-close').addEventListener('click', () => this.dialog.close())
    this.dialog.addEventListener('click', (e) => {
      if (e.target === this.dialog) this.dialog.close()
    })
    this.dialog.addEventListener('close', () => this.img.removeAttribute('src'))
  }

  open(src: string, a: Attachment): void {
    if (!src) return
    this.img.src = src
    this.img.alt = a.name
    if (a.width && a.height) {
      this.img.width = a.width
      this.img.height = a.height
    }
    this.caption.textContent = `${a.name} · ${formatSize(a.size)}`
    this.dialog.showModal()
  }
}

/** The excerpt's text with each highlighted range (code points, [start, end)) in a <mark>. */
export function renderExcerpt(excerpt: Excerpt): HTMLElement {
  const p = el('span', 'search-excerpt')
  const chars = Array.from(excerpt.text)
  const ranges = [...excerpt.highlights].filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0])
  let at = 0
  for (const [start, end] of ranges) {
    const s = Math.max(start, at)
    const e = Math.min(end, chars.length)
    if (e <= s) continue
    if (s > at) p.append(chars.slice(at, s).join(''))
    p.append(el('mark', undefined, chars.slice(s, e).join('')))
    at = e
  }
  if (at < chars.length) p.append(chars.slice(at).join(''))
  return p
}
