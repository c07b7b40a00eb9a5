/** Password hashing: argon2id via @node-rs/argon2, on its own thread pool, off the event loop. */
import { hash, verify } from '@node-rs/argon2'

export interface PasswordHasher {
  hash(secret: string): Promise<string>
  /** False on mismatch; the cost parameters are read from the PHC string, so old hashes verify after a raise. */
  verify(passwordHash: string, secret: string): Promise<boolean>
  /** Spends the same work as a failed verify, for answers that must not reveal whether a user exists. */
  burn(secret: string): Promise<void>
}

export function createPasswordHasher(opts: { memoryKib: number; iterations: number }): PasswordHasher {
  // argon2id is the library's default algorithm; the PHC string records it with m, t and p.
  const options = { memoryCost: opts.memoryKib, timeCost: opts.iterations, parallelism: 1 }
  let dummy: Promise<string> | undefined
  return {
    hash: (secret) => hash(secret, options),
    verify: (passwordHash, secret) => verify(passwordHash, secret),
    async burn(secret) {
      dummy ??= hash('not a real password', options)
      await verify(await dummy, secret)
    },
  }
}
