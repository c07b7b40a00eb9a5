/**
 * JWTs whose signature and claims jose has already verified, so that a token shown again skips the
 * HMAC (WebCrypto, ~30 µs and a trip through its thread pool): every tab, room socket and user stream
 * of one session shows the same token, and after a restart all of them reconnect at once.
 *
 * Only what a successful verification produced is ever kept, under the whole token string: a token
 * that differs in any character (another signature, the same prefix) is a different key and goes
 * through jose. What can change over time is checked on every use anyway: the expiry here, against
 * the clock (as jose does: expired once `exp` ≤ now, in whole seconds), and the user's standing (token
 * version, ban) by the caller (tokens.ts). The map is bounded: past MAX_ENTRIES the least recently
 * used token is dropped and, if shown again, verified again.
 *
 * A lookup compares the key only after its hash matched, so the time it takes says nothing about how
 * close a guess is to a token held here (and a token's signature is what would have to be guessed).
 */

/** What a verified JWT says, once checked (tokens.ts). */
export interface VerifiedClaims {
  /** The user id (`sub`). */
  id: number
  /** The token version it carries (`ver`, 0 when absent). */
  ver: number
  /** Expiry, epoch seconds. */
  exp: number
}

/** Tokens kept: ~250 bytes each (the token string, its claims), so ~2.5 MB at most. */
export const MAX_ENTRIES = 10_000

export class VerifiedTokens {
  private readonly entries = new Map<string, VerifiedClaims>()
  /** Verifications on their way: callers showing the same token meanwhile share one. */
  private readonly pending = new Map<string, Promise<VerifiedClaims>>()

  constructor(private readonly max = MAX_ENTRIES) {}

  get size(): number {
    return this.entries.size
  }

  /** The claims of `token` if it was verified here and has not expired at `nowSeconds`; an expired one is forgotten. */
  get(token: string, nowSeconds: number): VerifiedClaims | undefined {
    const claims = this.entries.get(token)
    if (claims === undefined) return undefined
    this.entries.delete(token)
    if (claims.exp <= nowSeconds) return undefined
    // Most recently used last: the first key is the one to drop.
    this.entries.set(token, claims)
    return claims
  }

  /** Runs `verify` once for `token` however many ask meanwhile, and keeps what it resolves with. A refusal is not kept. */
  verify(token: string, verify: () => Promise<VerifiedClaims>): Promise<VerifiedClaims> {
    const pending = this.pending.get(token)
    if (pending) return pending
    const verifying = verify().then((claims) => {
      this.remember(token, claims)
      return claims
    })
    this.pending.set(token, verifying)
    const done = () => void this.pending.delete(token)
    verifying.then(done, done)
    return verifying
  }

  private remember(token: string, claims: VerifiedClaims): void {
    this.entries.delete(token)
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!)
    this.entries.set(token, claims)
  }
}
