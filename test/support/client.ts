/**
 * The client SDK (packages/client) as the test helpers use it for the plain REST flows a client makes
 * (sign-up, login, rooms, members, DMs, read markers, "my rooms", history): the protocol's paths,
 * bodies and envelope are the SDK's, written once. Tests that look at the wire itself (exact answers,
 * frames, framing) use `request`, `call`, TestSocket and the raw-* helpers instead.
 */
import { ChatClient, ChatError, type Session } from '../../packages/client/src/index.ts'

/**
 * A ChatClient on `url` (a test server's `url`, through the OpenAPI proxy when that is on) with
 * `session` if given, that never refreshes by itself (a test decides when tokens change) and keeps the
 * status of each answer, so that a helper can insist on the exact one the spec gives.
 */
export class TestClient extends ChatClient {
  private readonly answer: { status: number }

  constructor(url: string, session?: Session) {
    const answer = { status: 0 }
    super({
      url,
      session,
      autoRefresh: false,
      fetch: async (input, init) => {
        const res = await fetch(input, init)
        answer.status = res.status
        return res
      },
    })
    this.answer = answer
  }

  /** The HTTP status of the latest answer; 0 before any. */
  get lastStatus(): number {
    return this.answer.status
  }

  /**
   * Resolves with what `call` resolves to when the server answered it with `status`; otherwise
   * throws an error that names `what`, the status expected and the one (with the error) it got.
   */
  async must<T>(status: number, what: string, call: (client: this) => Promise<T>): Promise<T> {
    let result: T
    try {
      result = await call(this)
    } catch (err) {
      if (err instanceof ChatError) throw new Error(`${what}: expected ${status}, got ${err.status} ${err.type}: ${err.message}`, { cause: err })
      throw err
    }
    if (this.lastStatus !== status) throw new Error(`${what}: expected ${status}, got ${this.lastStatus} ${JSON.stringify(result)}`)
    return result
  }
}
