/** Posting: a message is stored first and only then broadcast, exactly once (spec §3). */
import type { Store, User } from '../store/store.ts'
import type { Broker } from '../ws/broker.ts'

export interface Poster {
  /** Stores the message, then fans it out on every instance; resolves once both are done. */
  post(room: string, user: User, text: string, nonce: string | undefined): Promise<void>
  /** Resolves when every post in flight has been stored and broadcast (used at shutdown). */
  drain(): Promise<void>
}

export function createPoster(store: Store, broker: Broker, now: () => number): Poster {
  const inFlight = new Set<Promise<void>>()
  return {
    post(room, user, text, nonce) {
      const done = store.insertMessage({ room, user, text, nonce, createdAt: now() }, (message, after) => broker.publishMessage(message, after)).then(() => {})
      inFlight.add(done)
      void done.finally(() => inFlight.delete(done)).catch(() => {})
      return done
    },
    async drain() {
      await Promise.allSettled([...inFlight])
    },
  }
}
