/**
 * The login scenario's baseline: @node-rs/argon2 `verify` alone, with the product's default cost
 * and the same number of requests in flight as the login scenario, in its own process.
 * Env: ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, CONCURRENCY, DURATION_MS, WARMUP_MS. Prints one JSON line.
 */
import { hash, verify } from '@node-rs/argon2'

const memoryCost = Number(process.env.ARGON2_MEMORY_KIB)
const timeCost = Number(process.env.ARGON2_ITERATIONS)
const concurrency = Number(process.env.CONCURRENCY ?? 8)
const durationMs = Number(process.env.DURATION_MS ?? 5000)
const warmupMs = Number(process.env.WARMUP_MS ?? 500)

const secret = 'secret-0'
const stored = await hash(secret, { memoryCost, timeCost, parallelism: 1 })

async function verifyFor(ms: number): Promise<number> {
  const until = performance.now() + ms
  let n = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        if (!(await verify(stored, secret))) throw new Error('verify failed')
        n++
      }
    }),
  )
  return n
}

await verifyFor(warmupMs)
const cpu0 = process.cpuUsage()
const started = performance.now()
const verifies = await verifyFor(durationMs)
const seconds = (performance.now() - started) / 1000
const cpu = process.cpuUsage(cpu0)
console.log(JSON.stringify({ verifies, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 }))
