/** The rate-limiter contract against the in-memory limiters a single instance uses. */
import { MessageBuckets, SlidingWindow } from '../../src/auth/rate-limit.ts'
import { describeLimiterContract } from './limiter-contract.ts'

describeLimiterContract('in-memory', async () => ({
  attempts: (limit, windowMs, now) => new SlidingWindow(limit, windowMs, now),
  messages: (rate, burst, now) => new MessageBuckets(rate, burst, now),
  async [Symbol.asyncDispose]() {},
}))
