/** Password hashing: argon2id via @node-rs/argon2, on its own thread pool, off the event loop. */
import { hash, parseOptions, verify } from '@node-rs/argon2'

export interface PasswordHasher {
  hash(secret: string): Promise<string>
  /**
   * False on mismatch; the cost parameters are read from the PHC string, so old hashes verify after a
   * change. Every secret costs one verify of `passwordHash`, well-formed or not, so the time of a
   * refusal tells nothing about why.
   */
  verify(passwordHash: string, secret: string): Promise<boolean>
  /** Spends the same work as a failed verify of a hash made now, for answers that must not reveal whether a user exists. */
  burn(secret: string): Promise<void>
  /** True when `passwordHash` was made with other settings than a hash made now: rehash it at the next login. */
  needsRehash(passwordHash: string): Promise<boolean>
}

export function createPasswordHasher(opts: { memoryKib: number; iterations: number }): PasswordHasher {
  // argon2id is the library's default algorithm; the PHC string records it with m, t and p.
  const options = { memoryCost: opts.memoryKib, timeCost: opts.iterations, parallelism: 1 }
  // Made up front, so the first unknown-name login doesn't also pay for making it. It is also the
  // reference for needsRehash: whatever the library records for a hash made now is current.
  const dummy = hash('not a real password', options)
  const current = dummy.then(parseOptions)
  return {
    hash: (secret) => hash(secret, options),
    async verify(passwordHash, secret) {
      const matches = await verify(passwordHash, secret)
      // argon2 reads a lone surrogate as U+FFFD, so "\ud800" would open an account whose secret is
      // "\ufffd". Such a secret can't have been signed up with (checkSecret), so it never matches,
      // but only after the same verify as any other wrong secret.
      return matches && secret.isWellFormed()
    },
    async burn(secret) {
      await verify(await dummy, secret)
    },
    async needsRehash(passwordHash) {
      const [used, now] = [parseOptions(passwordHash), await current]
      return (['algorithm', 'version', 'memoryCost', 'timeCost', 'parallelism', 'outputLen'] as const).some((k) => used[k] !== now[k])
    },
  }
}

/**
 * OWASP's argon2id configurations (Password Storage Cheat Sheet), each as strong as the others: memory
 * in KiB with its iterations, parallelism 1. Spec §2 asks for these or stronger.
 */
const OWASP_ARGON2ID: readonly (readonly [memoryKib: number, iterations: number])[] = [
  [47104, 1],
  [19456, 2],
  [12288, 3],
  [9216, 4],
  [7168, 5],
]

/** True when the settings are weaker than every OWASP configuration (fine for tests, not for people's passwords). */
export function belowOwasp(opts: { memoryKib: number; iterations: number }): boolean {
  return !OWASP_ARGON2ID.some(([memoryKib, iterations]) => opts.memoryKib >= memoryKib && opts.iterations >= iterations)
}
