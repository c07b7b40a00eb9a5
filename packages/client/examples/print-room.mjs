// Logs in, joins a room and prints its messages: the recent history first, then each new one as it
// comes, until Ctrl-C. The socket reconnects by itself and resumes where it left off.
//
//   CHAT_URL=http://localhost:3000 CHAT_USER=alice CHAT_SECRET='correct horse' node print-room.mjs lobby
//
// Node 20 has no global WebSocket: run it with `node --experimental-websocket`, or pass
// `WebSocket` from the `ws` package to `new ChatClient({ url, WebSocket })`. Bun and Node 22+ need nothing.
import { ChatClient } from '@bun-chat-server/client'

const roomName = process.argv[2] ?? 'lobby'
const client = new ChatClient({ url: process.env.CHAT_URL ?? 'http://localhost:3000' })
await client.login(process.env.CHAT_USER ?? '', process.env.CHAT_SECRET ?? '')

const room = client.room(roomName)
room.on('welcome', (welcome, { resumed }) => {
  if (resumed) console.log(`(reconnected to ${welcome.room})`)
  else console.log(`joined ${welcome.room} as ${welcome.user?.username}, ${welcome.members.length} here`)
})
room.on('message', (message) => {
  console.log(message.deleted ? `#${message.id} (deleted)` : `#${message.id} ${message.user.username}: ${message.text}`)
})
room.on('join', (user) => console.log(`${user.username} joined`))
room.on('leave', (user) => console.log(`${user.username} left`))
room.on('state', (state) => {
  if (state.kind === 'waiting') console.error(`connection lost (${state.code}); trying again in ${Math.round(state.delayMs)} ms`)
  if (state.kind === 'closed' && state.why !== 'client') {
    console.error(`closed for good: ${state.why} (${state.code} ${state.reason})`)
    process.exit(1)
  }
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    client.close()
    process.exit(0)
  })
}
