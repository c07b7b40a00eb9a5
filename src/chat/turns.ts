/**
 * A sender's frames reach the store in the order they came, per room (docs/PROTOCOL.md: frames are
 * handled in order). A message or an edit whose text mentions someone looks the names up first, a
 * query on PostgreSQL: without turns, the sender's next message, with nothing to look up, would be
 * stored before it.
 */
export class Turns {
  /** Per sender and room, the turn of the newest frame not yet handed to the store. */
  private readonly last = new Map<string, Promise<void>>()

  /**
   * Calls `submit` with what `prepare` gives, once it has given it and the same sender's frame before
   * this one in `room` has been submitted. With nothing to wait for, submits at once.
   */
  take<P, T>(room: string, userId: number, prepare: P | Promise<P>, submit: (prepared: P) => Promise<T>): Promise<T> {
    const key = `${userId} ${room}`
    const before = this.last.get(key)
    if (before === undefined && !(prepare instanceof Promise)) return submit(prepare)
    const { promise: mine, resolve: done } = Promise.withResolvers<void>()
    this.last.set(key, mine)
    const release = () => {
      done()
      if (this.last.get(key) === mine) this.last.delete(key)
    }
    return Promise.all([prepare, before]).then(
      ([prepared]) => {
        // Released as soon as submit has handed the frame over, not once it is stored.
        try {
          return submit(prepared)
        } finally {
          release()
        }
      },
      // A turn never rejects: a failed preparation still waits for the frame before it, so the next can't pass that one.
      async (err: unknown) => {
        await before
        release()
        throw err
      },
    )
  }
}
