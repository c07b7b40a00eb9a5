/** Bounded waits for tests: every wait ends, either with its condition or with an error naming it. */
import type { Frame, TestSocket } from './socket.ts'

/** `promise`, or a rejection naming `what` after `ms`; the timer never outlives the race. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Resolves with the first frame (received so far or later) that satisfies `predicate`, checked on
 * every incoming frame; rejects after `ms`, or when the socket closes without one.
 */
export function frameWhere(socket: TestSocket, predicate: (frame: Frame) => boolean, ms: number, what: string): Promise<Frame> {
  const found = socket.frames.find(predicate)
  if (found) return Promise.resolve(found)
  const { promise, resolve, reject } = Promise.withResolvers<Frame>()
  let seen = socket.frames.length
  const onMessage = () => {
    for (; seen < socket.frames.length; seen++) {
      const frame = socket.frames[seen]!
      if (predicate(frame)) return resolve(frame)
    }
  }
  // The buffering client's own onclose runs first, so `frames` is complete when this one runs.
  const onClose = () => {
    onMessage()
    reject(new Error(`socket closed while waiting for ${what}`))
  }
  socket.ws.addEventListener('message', onMessage)
  socket.ws.addEventListener('close', onClose)
  return withTimeout(promise, ms, what).finally(() => {
    socket.ws.removeEventListener('message', onMessage)
    socket.ws.removeEventListener('close', onClose)
  })
}

/**
 * Resolves once `condition` returns (or resolves to) true, re-checked every `everyMs`: the one
 * polling wait, for state with no event to listen to (server counters, a page, state converging
 * across instances). A throw counts as "not yet", so the condition may be a block of `expect`s
 * ending in `return true`; after `ms` the error names `what` and carries the last throw.
 */
export async function until(condition: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 20): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    let failure: unknown
    try {
      if ((await condition()) === true) return
    } catch (err) {
      failure = err
    }
    if (Date.now() > deadline) {
      const detail = failure instanceof Error ? `: ${failure.message}` : ''
      throw new Error(`timed out after ${ms} ms waiting for ${what}${detail}`, { cause: failure })
    }
    await Bun.sleep(everyMs)
  }
}
