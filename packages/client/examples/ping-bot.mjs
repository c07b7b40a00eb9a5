// A bot: in one room, answers `!ping` with `pong` and `!time` with the bot's clock, each as a reply
// to the command. It runs until Ctrl-C, reconnecting by itself; commands posted while it was
// disconnected are answered when it is back (they come with source `resume`).
//
//   CHAT_URL=http://localhost:3000 CHAT_USER=pingbot CHAT_SECRET='bot secret' node ping-bot.mjs lobby
//
// Node 20: `node --experimental-websocket ping-bot.mjs`, or pass `WebSocket` from the `ws` package.
import { ChatClient } from '@bun-chat-server/client'

const roomName = process.argv[2] ?? 'lobby'
const client = new ChatClient({ url: process.env.CHAT_URL ?? 'http://localhost:3000' })
const { user: me } = await client.login(process.env.CHAT_USER ?? '', process.env.CHAT_SECRET ?? '')

const COMMANDS = {
  '!ping': () => 'pong',
  '!time': () => new Date().toISOString(),
}

const room = client.room(roomName)
room.on('message', async (message, { source }) => {
  // The history of the first connection was posted before the bot came: not for it to answer.
  if (source === 'history' || message.deleted || message.user.id === me.id) return
  const command = COMMANDS[message.text.trim()]
  if (!command) return
  try {
    await room.post(command(), { replyTo: message.id })
  } catch (err) {
    console.error(`could not answer #${message.id}: ${err.type ?? ''} ${err.message}`)
  }
})
room.on('error', (err) => console.error(`server said ${err.type}: ${err.message}`))
room.on('state', (state) => {
  if (state.kind === 'closed' && state.why !== 'client') {
    console.error(`closed for good: ${state.why} (${state.code} ${state.reason})`)
    process.exit(1)
  }
})

await room.ready()
console.log(`ping-bot ready in ${roomName} as ${me.username}`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    client.close()
    process.exit(0)
  })
}
