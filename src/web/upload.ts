/**
 * Uploads with progress (spec §7): XMLHttpRequest, the one browser API that reports upload progress
 * (fetch does not, so the SDK's `upload()` cannot), on the SDK's paths and errors.
 */
import { ChatError, CONVERSATION_PATHS, type Attachment, type Envelope } from '../../packages/client/src/index.ts'

export interface Upload {
  /** Resolves with the stored attachment; rejects with a ChatError (or AbortError after abort()). */
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
      if (!envelope) return reject(new ChatError(xhr.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INTERNAL', `unexpected ${xhr.status} response`, xhr.status))
      if (envelope.error) return reject(new ChatError(envelope.error.type, envelope.error.message, xhr.status))
      onProgress(1)
      resolve(envelope.data)
    })
    xhr.addEventListener('error', () => reject(new ChatError('NETWORK', 'the server could not be reached', 0)))
    xhr.addEventListener('abort', () => reject(new DOMException('upload cancelled', 'AbortError')))
    xhr.send(file)
  })
  return { done, abort: () => xhr.abort() }
}
