/**
 * The message box: Enter sends, Shift+Enter adds a line, `@` completes names (spec §6), typing is
 * reported to the room, and it is disabled with a reason while posting is not possible.
 * Spec §7: the quote of the message being answered sits above it (Escape or × cancels), and files
 * dropped, pasted or picked with the paperclip are uploaded at once (with progress) and go out with
 * the next message.
 */
import type { Attachment, Quote } from '../protocol.ts'
import { CONVERSATION_LIMITS } from '../protocol-conversation.ts'
import { showsNothing } from '../protocol-text.ts'
import { ChatError } from '../../packages/client/src/index.ts'
import { formatSize, renderQuote } from './conversation.ts'
import { byId, el } from './dom.ts'
import { MentionAutocomplete } from './mentions.ts'
import type { Upload } from './upload.ts'
import { describeError } from './words.ts'

/** What goes out with a message beside its text (spec §7). */
export interface SendExtras {
  replyTo?: Quote
  attachments: Attachment[]
}

interface PendingUpload {
  file: File
  item: HTMLLIElement
  upload: Upload | undefined
  attachment: Attachment | undefined
  failed: boolean
}

export class Composer {
  /** Set by the open room; returns false when the text was not taken (so it stays in the box). */
  send: ((text: string, extras: SendExtras) => boolean) | undefined
  /** Set by the open room: the person is typing (called on every edit of the text; the room throttles). */
  typing: (() => void) | undefined
  /** Set by the open room (spec §7): starts uploading a file to the room; undefined when it cannot (logged out). */
  upload: ((file: File, onProgress: (fraction: number) => void) => Upload | undefined) | undefined

  private readonly form = byId<HTMLFormElement>('composer')
  private readonly input = byId<HTMLTextAreaElement>('composer-input')
  private readonly button = byId<HTMLButtonElement>('composer-send')
  private readonly status = byId('composer-status')
  private readonly replyBar = byId('composer-reply')
  private readonly replyQuote = byId('composer-reply-quote')
  private readonly uploadList = byId<HTMLUListElement>('composer-uploads')
  private readonly fileInput = byId<HTMLInputElement>('composer-file')
  private readonly attachButton = byId<HTMLButtonElement>('composer-attach')
  readonly mentions = new MentionAutocomplete(this.input, byId<HTMLUListElement>('mention-suggestions'))
  private replyTo: Quote | undefined
  private uploads: PendingUpload[] = []
  private blocked: string | undefined

  constructor() {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault()
      this.submit()
    })
    this.input.addEventListener('input', () => {
      if (!showsNothing(this.input.value)) this.typing?.()
    })
    this.input.addEventListener('keydown', (e) => {
      if (this.mentions.handleKey(e)) return
      // isComposing: Enter that confirms an IME candidate is not "send".
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault()
        this.submit()
      } else if (e.key === 'Escape' && this.replyTo) {
        e.preventDefault()
        this.setReply(undefined)
      }
    })
    byId('composer-reply-cancel').addEventListener('click', () => {
      this.setReply(undefined)
      this.input.focus()
    })
    this.attachButton.addEventListener('click', () => this.fileInput.click())
    this.fileInput.addEventListener('change', () => {
      this.addFiles([...(this.fileInput.files ?? [])])
      this.fileInput.value = ''
    })
    this.input.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files ?? [])]
      if (files.length === 0) return
      e.preventDefault()
      this.addFiles(files)
    })
    // Files dropped anywhere on the open room (the timeline or the box) are attached.
    const dropZone = byId('room-view')
    let depth = 0
    const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') === true
    dropZone.addEventListener('dragenter', (e) => {
      if (!hasFiles(e) || this.form.hidden) return
      depth++
      this.form.classList.add('dropping')
    })
    dropZone.addEventListener('dragleave', () => {
      if (depth > 0 && --depth === 0) this.form.classList.remove('dropping')
    })
    dropZone.addEventListener('dragover', (e) => {
      if (!hasFiles(e) || this.form.hidden) return
      e.preventDefault()
      e.dataTransfer!.dropEffect = 'copy'
    })
    dropZone.addEventListener('drop', (e) => {
      depth = 0
      this.form.classList.remove('dropping')
      if (!hasFiles(e) || this.form.hidden) return
      e.preventDefault()
      this.addFiles([...(e.dataTransfer?.files ?? [])])
    })
  }

  /** A new room, named as on screen (`#name` or `@peer`): an empty box, no reply, no uploads. */
  setRoom(label: string): void {
    this.setLabel(label)
    this.input.value = ''
    this.mentions.close()
    this.setReply(undefined)
    for (const u of this.uploads) u.upload?.abort()
    this.uploads = []
    this.renderUploads()
  }

  setLabel(label: string): void {
    this.input.placeholder = `Message ${label}`
  }

  /** The message being answered (spec §7), shown above the box; undefined clears it. */
  setReply(quote: Quote | undefined): void {
    this.replyTo = quote
    this.replyBar.hidden = quote === undefined
    this.replyQuote.replaceChildren(...(quote ? [el('span', 'composer-reply-label', 'Replying to'), renderQuote(quote)] : []))
    if (quote) this.input.focus()
  }

  /** Enabled, or disabled with a sentence saying why (offline, rate limited). */
  setBlocked(reason: string | undefined): void {
    const blocked = reason !== undefined
    const hadFocus = document.activeElement === this.input
    this.blocked = reason
    this.input.disabled = blocked
    this.button.disabled = blocked
    this.form.classList.toggle('blocked', blocked)
    this.status.textContent = reason ?? ''
    // Disabling drops focus; give it back when posting is possible again.
    if (!blocked && (hadFocus || this.wasFocused)) this.input.focus()
    this.wasFocused = blocked && (hadFocus || this.wasFocused)
  }

  focus(): void {
    this.input.focus()
  }

  private wasFocused = false

  private submit(): void {
    if (this.input.disabled) return
    if (this.uploads.some((u) => !u.attachment && !u.failed)) return this.say('Wait for the uploads to finish, then send.')
    const attachments = this.uploads.flatMap((u) => (u.attachment ? [u.attachment] : []))
    let text = this.input.value.replace(/\s+$/, '')
    // A message needs text (spec §2): files sent alone are named.
    if (showsNothing(text) && attachments.length > 0) text = attachments.map((a) => a.name).join(', ')
    if (showsNothing(text)) return
    if (!this.send?.(text, { replyTo: this.replyTo, attachments })) return
    this.input.value = ''
    this.setReply(undefined)
    this.uploads = this.uploads.filter((u) => !u.attachment && !u.failed)
    this.renderUploads()
  }

  /** A passing note in the status line (unless the box is blocked, which says more). */
  private say(text: string): void {
    if (this.blocked !== undefined) return
    this.status.textContent = text
    setTimeout(() => {
      if (this.blocked === undefined && this.status.textContent === text) this.status.textContent = ''
    }, 4000)
  }

  private addFiles(files: File[]): void {
    for (const file of files) {
      if (this.uploads.length >= CONVERSATION_LIMITS.ATTACHMENTS_PER_MESSAGE) {
        this.say(`At most ${CONVERSATION_LIMITS.ATTACHMENTS_PER_MESSAGE} files per message.`)
        break
      }
      const item = el('li', 'upload')
      const u: PendingUpload = { file, item, upload: undefined, attachment: undefined, failed: false }
      this.uploads.push(u)
      this.startUpload(u)
    }
    this.renderUploads()
    this.input.focus()
  }

  private startUpload(u: PendingUpload): void {
    const progress = el('progress', 'upload-progress')
    progress.max = 1
    progress.value = 0
    const state = el('span', 'upload-state', 'Uploading…')
    const remove = el('button', 'icon-button upload-remove', '×')
    remove.type = 'button'
    remove.setAttribute('aria-label', `Remove ${u.file.name}`)
    remove.addEventListener('click', () => {
      u.upload?.abort()
      this.uploads = this.uploads.filter((other) => other !== u)
      this.renderUploads()
    })
    u.item.replaceChildren(el('span', 'upload-name', u.file.name || 'file'), el('span', 'upload-size', formatSize(u.file.size)), progress, state, remove)
    u.item.dataset.state = 'uploading'
    u.upload = this.upload?.(u.file, (fraction) => {
      progress.value = fraction
      state.textContent = `${Math.round(fraction * 100)} %`
    })
    if (!u.upload) return this.failed(u, state, 'Log in to attach files.')
    u.upload.done.then(
      (attachment) => {
        u.attachment = attachment
        u.item.dataset.state = 'done'
        progress.value = 1
        state.textContent = 'Ready'
      },
      (err: unknown) => {
        if (err instanceof DOMException && err.name === 'AbortError') return
        const why = err instanceof ChatError && err.type === 'PAYLOAD_TOO_LARGE' ? 'Too large to upload.' : describeError(err)
        this.failed(u, state, why)
      },
    )
  }

  private failed(u: PendingUpload, state: HTMLElement, why: string): void {
    u.failed = true
    u.item.dataset.state = 'failed'
    state.textContent = why
    u.item.querySelector('progress')?.remove()
  }

  private renderUploads(): void {
    this.uploadList.replaceChildren(...this.uploads.map((u) => u.item))
    this.uploadList.hidden = this.uploads.length === 0
  }
}
