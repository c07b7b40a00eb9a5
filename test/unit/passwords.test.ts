/** spec §2: passwords are hashed with argon2id at OWASP's parameters or stronger; weaker ones are told apart. */
import { expect, test } from 'bun:test'
import { belowOwasp } from '../../src/auth/passwords.ts'

test("belowOwasp: each of OWASP's argon2id configurations and anything stronger passes; less memory or fewer iterations than all of them does not", () => {
  for (const [memoryKib, iterations] of [
    [47104, 1],
    [19456, 2],
    [12288, 3],
    [9216, 4],
    [7168, 5],
    [65536, 3],
  ] as const)
    expect({ memoryKib, iterations, below: belowOwasp({ memoryKib, iterations }) }).toEqual({ memoryKib, iterations, below: false })
  for (const [memoryKib, iterations] of [
    [47103, 1],
    [19455, 2],
    [19456, 1],
    [7167, 100],
    [8, 1],
    [1024, 1],
  ] as const)
    expect({ memoryKib, iterations, below: belowOwasp({ memoryKib, iterations }) }).toEqual({ memoryKib, iterations, below: true })
})
