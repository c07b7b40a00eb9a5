/**
 * What a room socket and the user stream share: one managed Connection, whose state, opening,
 * closing and welcome they expose alike. A subclass builds the connection (its URL, its frames) and
 * says how errors name it.
 */
import type { Connection, SocketState } from './connection.ts'
import { Emitter, type EventMap } from './emitter.ts'
import { ChatError } from './errors.ts'

type Closed = Extract<SocketState, { kind: 'closed' }>

export abstract class SocketEndpoint<E extends EventMap & { state: [state: SocketState] }> extends Emitter<E> {
  protected abstract readonly conn: Connection
  /** How errors name this socket: its room, or "the user stream". */
  protected abstract get label(): string

  get state(): SocketState {
    return this.conn.state
  }

  /** True while welcomed: frames sent now reach the server. */
  get isOpen(): boolean {
    return this.conn.isOpen
  }

  /** Connects (or connects again now, after a stop or to use a new token), resuming after its cursor. */
  connect(): this {
    this.conn.reconnect()
    return this
  }

  /** Closes the socket with 1000 and stops reconnecting (a room socket's pending posts reject with CLOSED). */
  close(): void {
    this.conn.close()
  }

  /**
   * Resolves once welcomed (at once if open now); rejects with CLOSED if the socket is stopped or
   * stops for good first, or with TIMEOUT after `timeoutMs`.
   */
  ready(timeoutMs = 15_000): Promise<void> {
    if (this.conn.isOpen) return Promise.resolve()
    const closed = (s: Closed) => new ChatError('CLOSED', `the socket to ${this.label} is closed: ${s.why} (${s.code} ${s.reason})`)
    if (this.conn.state.kind === 'closed') return Promise.reject(closed(this.conn.state))
    // E's `state` is SocketState by the constraint, which TypeScript does not carry into a generic `on`.
    const states = this as unknown as Emitter<{ state: [state: SocketState] }>
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(() => reject(new ChatError('TIMEOUT', `${this.label} was not welcomed within ${timeoutMs} ms`))), timeoutMs)
      const off = states.on('state', (s) => {
        if (s.kind === 'open') finish(resolve)
        else if (s.kind === 'closed') finish(() => reject(closed(s)))
      })
      const finish = (then: () => void) => {
        clearTimeout(timer)
        off()
        then()
      }
    })
  }
}
