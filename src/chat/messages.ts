/** Posting: a message is stored first and only then published, exactly once (spec §3). */
import type { Committed, Store, User } from '../store/store.ts'

/**
 * Hands a committed message on to its readers. Declared here, supplied by the composition root
 * (app.ts), so the domain never depends on the transport. Must not throw: the message is stored.
 */
export type Publish = (committed: Committed) => void

export interface Poster {
  /** Stores the message, then publishes it; resolves once it is stored. */
  post(room: string, user: User, text: string, nonce: string | undefined): Promise<void>
  /** Refuses new posts from now on and resolves when every post in flight is stored and published (shutdown). */
  close(): Promise<void>
  /** True once close() was called. */
  readonly closed: boolean
}

export function createPoster(store: Store, publish: Publish, now: () => number): Poster {
  const inFlight = new Set<Promise<void>>()
  let closed = false
  return {
    post(room, user, text, nonce) {
      if (closed) return Promise.reject(new Error('the poster is closed'))
      const done = store.insertMessage({ room, user, text, nonce, createdAt: now() }).then(publish)
      inFlight.add(done)
      void done.finally(() => inFlight.delete(done)).catch(() => {})
      return done
    },
    async close() {
      closed = true
      await Promise.allSettled([...inFlight])
    },
    get closed() {
      return closed
    },
  }
}
