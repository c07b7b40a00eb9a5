/**
 * verifyWebhook (packages/client) against deliveries signed here with node:crypto, a second
 * implementation of the Standard Webhooks scheme: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
 * keyed with the base64 part of `whsec_…`.
 */
import { expect, test } from 'bun:test'
import { createHmac, randomBytes } from 'node:crypto'
import { verifyWebhook, WebhookError, type WebhookPayload } from '../../packages/client/src/index.ts'

const SECRET = `whsec_${randomBytes(24).toString('base64')}`
const NOW = Date.parse('2025-06-01T12:00:00Z')
const NOW_S = NOW / 1000

const payload: WebhookPayload = {
  type: 'message',
  timestamp: new Date(NOW).toISOString(),
  data: { room: 'lobby', message: { id: 7, room: 'lobby', user: { id: 2, username: 'bob' }, text: 'héllo @pingbot', ts: new Date(NOW).toISOString() } },
}
const BODY = JSON.stringify(payload)

function signature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

/** The headers of delivery 42 signed at `timestamp`, as Node's `req.headers` has them. */
function headers(opts: { secret?: string; timestamp?: number; body?: string; signatures?: string } = {}) {
  const timestamp = opts.timestamp ?? NOW_S
  return {
    'content-type': 'application/json',
    'webhook-id': '42',
    'webhook-timestamp': String(timestamp),
    'webhook-signature': opts.signatures ?? signature(opts.secret ?? SECRET, '42', timestamp, opts.body ?? BODY),
  }
}

/** The WebhookError a verification rejects with. */
async function refusal(promise: Promise<unknown>): Promise<WebhookError> {
  const err = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  )
  if (!(err instanceof WebhookError)) throw err
  return err
}

test('a good signature: the payload, whether the body is a string or bytes and the headers a plain object or Headers', async () => {
  expect(await verifyWebhook(SECRET, headers(), BODY, { now: NOW })).toEqual(payload)
  expect(await verifyWebhook(SECRET, headers(), Buffer.from(BODY), { now: NOW })).toEqual(payload)
  expect(await verifyWebhook(SECRET, new Headers(headers()), new TextEncoder().encode(BODY).buffer, { now: NOW })).toEqual(payload)
  const capitalised = Object.fromEntries(Object.entries(headers()).map(([k, v]) => [k.replace(/\b[a-z]/g, (c) => c.toUpperCase()), v]))
  expect(await verifyWebhook(SECRET, capitalised, BODY, { now: NOW })).toEqual(payload)
  // The secret's base64 part alone is taken too, as the convention's own libraries take it.
  expect(await verifyWebhook(SECRET.slice('whsec_'.length), headers(), BODY, { now: NOW })).toEqual(payload)
})

test('a wrong secret is SIGNATURE_INVALID', async () => {
  const other = `whsec_${randomBytes(24).toString('base64')}`
  const err = await refusal(verifyWebhook(other, headers(), BODY, { now: NOW }))
  expect(err).toMatchObject({ name: 'WebhookError', type: 'SIGNATURE_INVALID' })
})

test('a tampered body, id or timestamp is SIGNATURE_INVALID', async () => {
  const tampered = BODY.replace('héllo', 'hello')
  expect(await refusal(verifyWebhook(SECRET, headers(), tampered, { now: NOW }))).toMatchObject({ type: 'SIGNATURE_INVALID' })
  expect(await refusal(verifyWebhook(SECRET, { ...headers(), 'webhook-id': '43' }, BODY, { now: NOW }))).toMatchObject({ type: 'SIGNATURE_INVALID' })
  const moved = { ...headers(), 'webhook-timestamp': String(NOW_S + 1) }
  expect(await refusal(verifyWebhook(SECRET, moved, BODY, { now: NOW }))).toMatchObject({ type: 'SIGNATURE_INVALID' })
})

test('a timestamp outside the tolerance, either way, is TIMESTAMP_OUT_OF_RANGE; at its edge it passes', async () => {
  const stale = headers({ timestamp: NOW_S - 301 })
  expect(await refusal(verifyWebhook(SECRET, stale, BODY, { now: NOW }))).toMatchObject({ type: 'TIMESTAMP_OUT_OF_RANGE' })
  const ahead = headers({ timestamp: NOW_S + 301 })
  expect(await refusal(verifyWebhook(SECRET, ahead, BODY, { now: NOW }))).toMatchObject({ type: 'TIMESTAMP_OUT_OF_RANGE' })
  expect(await verifyWebhook(SECRET, headers({ timestamp: NOW_S - 300 }), BODY, { now: NOW })).toEqual(payload)
  expect(await refusal(verifyWebhook(SECRET, headers({ timestamp: NOW_S - 11 }), BODY, { now: NOW, toleranceSeconds: 10 }))).toMatchObject({
    type: 'TIMESTAMP_OUT_OF_RANGE',
  })
  // Without `now`, the clock: a delivery signed an hour ago is stale.
  const hourAgo = Math.floor(Date.now() / 1000) - 3600
  expect(await refusal(verifyWebhook(SECRET, headers({ timestamp: hourAgo }), BODY))).toMatchObject({ type: 'TIMESTAMP_OUT_OF_RANGE' })
})

test('several space-separated signatures: any v1 one that matches will do (a rotated secret); other versions are ignored', async () => {
  const old = `whsec_${randomBytes(24).toString('base64')}`
  const good = signature(SECRET, '42', NOW_S, BODY)
  const stale = signature(old, '42', NOW_S, BODY)
  for (const signatures of [`${stale} ${good}`, `${good} ${stale}`, `v1a,${good.slice(3)} ${good}`])
    expect(await verifyWebhook(SECRET, headers({ signatures }), BODY, { now: NOW })).toEqual(payload)
  for (const signatures of [stale, `v1a,${good.slice(3)}`, `v2,${good.slice(3)}`, good.slice(3), `${stale} garbage`, ''])
    expect(await refusal(verifyWebhook(SECRET, headers({ signatures }), BODY, { now: NOW }))).toMatchObject({ type: 'SIGNATURE_INVALID' })
})

test('missing or malformed headers are HEADERS_INVALID; a signed body that is not a delivery is PAYLOAD_INVALID; a bad secret is a TypeError', async () => {
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const { [name as keyof ReturnType<typeof headers>]: _, ...rest } = headers()
    expect(await refusal(verifyWebhook(SECRET, rest, BODY, { now: NOW }))).toMatchObject({ type: 'HEADERS_INVALID' })
  }
  const iso = { ...headers(), 'webhook-timestamp': new Date(NOW).toISOString() }
  expect(await refusal(verifyWebhook(SECRET, iso, BODY, { now: NOW }))).toMatchObject({ type: 'HEADERS_INVALID' })
  for (const body of ['not json', '[]', '{"type":"message"}'])
    expect(await refusal(verifyWebhook(SECRET, headers({ body }), body, { now: NOW }))).toMatchObject({ type: 'PAYLOAD_INVALID' })
  await expect(verifyWebhook('whsec_***', headers(), BODY, { now: NOW })).rejects.toBeInstanceOf(TypeError)
})
