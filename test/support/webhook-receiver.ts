/** A real HTTP receiver on 127.0.0.1 for outgoing-webhook tests: it records every POST and answers as the test says. */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { until } from './wait.ts'

export interface Received {
  id: string
  timestamp: string
  signature: string
  contentType: string | null
  body: string
}

export interface Receiver {
  url: string
  received: Received[]
  /** How to answer the next POSTs (default 200); may wait first (a slow receiver). */
  answer: (req: Received, n: number) => Response | Promise<Response>
  /** Resolves once `count` POSTs have arrived. */
  waitFor(count: number, ms?: number): Promise<void>
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = []
  const receiver: Receiver = {
    url: '',
    received,
    answer: () => new Response('ok'),
    waitFor: (count, ms = 5_000) => until(() => received.length >= count, ms, `${count} webhook POSTs (got ${received.length})`),
    stop: async () => void (await server.stop(true)),
    [Symbol.asyncDispose]: () => receiver.stop(),
  }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const got: Received = {
        id: req.headers.get('webhook-id') ?? '',
        timestamp: req.headers.get('webhook-timestamp') ?? '',
        signature: req.headers.get('webhook-signature') ?? '',
        contentType: req.headers.get('content-type'),
        body: await req.text(),
      }
      received.push(got)
      return receiver.answer(got, received.length)
    },
  })
  receiver.url = `http://127.0.0.1:${server.port}/hook`
  return receiver
}

/** Checks a delivery the Standard Webhooks way, independently of the server's code. */
export function signatureValid(secret: string, got: Received): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const expected = createHmac('sha256', key).update(`${got.id}.${got.timestamp}.${got.body}`).digest()
  return got.signature.split(' ').some((part) => {
    const [version, sig] = part.split(',')
    const bytes = Buffer.from(sig ?? '', 'base64')
    return version === 'v1' && bytes.length === expected.length && timingSafeEqual(bytes, expected)
  })
}
