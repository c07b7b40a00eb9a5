// Receives the deliveries of an outgoing webhook: a small node:http server that checks each one's
// signature and timestamp with verifyWebhook and logs the message it carries. An admin makes the
// webhook with `client.admin.createOutgoingWebhook({ url, rooms: ['lobby'] })`, `url` being where
// this program listens, and gives it the answer's `secret`.
//
//   CHAT_WEBHOOK_SECRET=whsec_... PORT=8080 node webhook-receiver.mjs
//
// Node 20+ and Bun run it as it is (both have WebCrypto).
import { createServer } from 'node:http'
import { verifyWebhook, WebhookError } from '@bun-chat-server/client'

const secret = process.env.CHAT_WEBHOOK_SECRET
if (!secret) {
  console.error('set CHAT_WEBHOOK_SECRET to the secret of the outgoing webhook (whsec_...)')
  process.exit(2)
}

const server = createServer(async (req, res) => {
  if (req.method !== 'POST') return res.writeHead(405, { allow: 'POST' }).end()
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  try {
    // The body as it came, byte for byte: that is what was signed.
    const { type, data } = await verifyWebhook(secret, req.headers, Buffer.concat(chunks))
    const { message } = data
    // A delivery that was not acknowledged is sent again with the same webhook-id: a receiver that
    // must act once per event keeps the ids it has seen.
    console.log(`${type} #${message.id} in ${data.room} from ${message.user.username}: ${message.deleted ? '(deleted)' : message.text}`)
    res.writeHead(204).end()
  } catch (err) {
    // Anything else is a CHAT_WEBHOOK_SECRET that is not base64: stop, and say so.
    if (!(err instanceof WebhookError)) throw err
    console.error(`refused delivery ${req.headers['webhook-id'] ?? '(no id)'}: ${err.type} ${err.message}`)
    res.writeHead(400).end()
  }
})

server.listen(Number(process.env.PORT ?? 8080), () => console.log(`webhook-receiver listening on port ${server.address().port}`))

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))
