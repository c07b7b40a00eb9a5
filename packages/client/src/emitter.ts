/** A small typed event emitter: `on(event, fn)` returns the function that removes `fn`. */

/** Event names mapped to the arguments their listeners get. */
export type EventMap = Record<string, unknown[]>

export class Emitter<E extends EventMap> {
  private readonly listeners: { [K in keyof E]?: Set<(...args: E[K]) => void> } = {}

  /** Calls `fn` on every `event` until the returned function is called. */
  on<K extends keyof E>(event: K, fn: (...args: E[K]) => void): () => void {
    const set = (this.listeners[event] ??= new Set())
    set.add(fn)
    return () => void set.delete(fn)
  }

  /** Calls `fn` on the next `event` only. */
  once<K extends keyof E>(event: K, fn: (...args: E[K]) => void): () => void {
    const off = this.on(event, (...args) => {
      off()
      fn(...args)
    })
    return off
  }

  off<K extends keyof E>(event: K, fn: (...args: E[K]) => void): void {
    this.listeners[event]?.delete(fn)
  }

  /**
   * Calls the listeners of `event` in order. A listener that throws does not stop the others nor
   * the socket that emits: its error is thrown again from a microtask, where the runtime reports it.
   */
  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.listeners[event]
    if (!set) return
    for (const fn of [...set]) {
      try {
        fn(...args)
      } catch (err) {
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }
}
