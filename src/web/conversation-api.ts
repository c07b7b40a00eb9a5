/** Spec §7 over HTTP: search, and uploads with progress (XMLHttpRequest, the one API that reports upload progress). */
import type { Attachment, Envelope } from '../protocol.ts'
import { CONVERSATION_LIMITS, CONVERSATION_PATHS, type SearchPage } from '../protocol-conversation.ts'
import { ApiError, call } from './api.ts'

/** `GET /api/v1/search`: newest first; `before` a message id to page back. */
export function searchMessages(q: string, token: string | undefined, before?: number): Promise<SearchPage> {
  const query = new URLSearchParams({ q, limit: String(CONVERSATION_LIMITS.SEARCH_PAGE_DEFAULT) })
  if (before !== undefined) query.set('before', String(before))
  return call('GET', `${CONVERSATION_PATHS.search}?${query}`, { token })
}

export interface Upload {
  /** Resolves with the stored attachment; rejects with an ApiError (or AbortError after abort()). */
  done: Promise<Attachment>
  abort(): void
}

/** Sends a file's bytes as the body of `POST …/attachments?filename=`; `onProgress` gets the fraction sent (0–1). */
export function uploadFile(room: string, file: File, token: string, onProgress: (fraction: number) => void): Upload {
  const xhr = new XMLHttpRequest()
  const done = new Promise<Attachment>((resolve, reject) => {
    xhr.open('POST', `${CONVERSATION_PATHS.upload(room)}?${new URLSearchParams({ filename: file.name || 'file' })}`)
    xhr.setRequestHeader('Authorization', `Bearer ${token}`)
    xhr.setRequestHeader('Content-Type', 'application/octet-stream')
    xhr.responseType = 'text'
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total)
    })
    xhr.addEventListener('load', () => {
      let envelope: Envelope<Attachment> | undefined
      try {
        envelope = JSON.parse(xhr.responseText)
      } catch {
        // below
      }
      if (!envelope) return reject(new ApiError(xhr.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INTERNAL', `unexpected ${xhr.status} response`, xhr.status))
      if (envelope.error) return reject(new ApiError(envelope.error.type, envelope.error.message, xhr.status))
      onProgress(1)
      resolve(envelope.data)
    })
    xhr.addEventListener('error', () => reject(new ApiError('NETWORK', 'the server could not be reached', 0)))
    xhr.addEventListener('abort', () => reject(new DOMException('upload cancelled', 'AbortError')))
    xhr.send(file)
  })
  return { done, abort: () => xhr.abort() }
}
