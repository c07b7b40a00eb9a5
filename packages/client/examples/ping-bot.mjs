// A bot: in one room, answers `!ping` with `pong`, `!time` with the bot's clock and `!roll 2d6` with
// dice, each as a reply to the command. It runs on a bot account's API token (an admin makes one
// with `client.admin.createBot(name)`), which never expires, so there is no password to keep and no
// login to repeat. It runs until Ctrl-C, reconnecting by itself; commands posted while it was
// disconnected are answered when it is back (they come with source `resume`).
//
//   CHAT_URL=http://localhost:3000 CHAT_BOT_TOKEN=cbt_... node ping-bot.mjs lobby
//
// Node 20: `node --experimental-websocket ping-bot.mjs`, or pass `WebSocket` from the `ws` package.
import { ChatClient } from '@bun-chat-server/client'

const apiToken = process.env.CHAT_BOT_TOKEN
if (!apiToken) {
  console.error('set CHAT_BOT_TOKEN to the API token of a bot account')
  process.exit(2)
}
const roomName = process.argv[2] ?? 'lobby'
const client = new ChatClient({ url: process.env.CHAT_URL ?? 'http://localhost:3000', apiToken })
// An API token carries no user: ask who the bot is, which also fails early on a revoked token.
const me = await client.me()

/** `NdM`: N dice (1 to 100) of M sides (2 to 1000); one six-sided die by default. */
function roll(arg = '1d6') {
  const match = /^(\d{1,3})d(\d{1,4})$/i.exec(arg)
  const [count, sides] = match ? [Number(match[1]), Number(match[2])] : [0, 0]
  if (count < 1 || count > 100 || sides < 2 || sides > 1000) return 'usage: !roll NdM, e.g. !roll 2d6 (1 to 100 dice of 2 to 1000 sides)'
  const dice = Array.from({ length: count }, () => 1 + Math.floor(Math.random() * sides))
  const total = dice.reduce((a, b) => a + b, 0)
  return count === 1 ? `🎲 ${total}` : `🎲 ${dice.join(' + ')} = ${total}`
}

const COMMANDS = {
  '!ping': () => 'pong',
  '!time': () => new Date().toISOString(),
  '!roll': roll,
}

const room = client.room(roomName)
room.on('message', async (message, { source }) => {
  // The history of the first connection was posted before the bot came: not for it to answer.
  if (source === 'history' || message.deleted || message.user.id === me.id) return
  const [name, arg] = message.text.trim().split(/\s+/)
  const command = COMMANDS[name]
  if (!command) return
  try {
    await room.post(command(arg), { replyTo: message.id })
  } catch (err) {
    console.error(`could not answer #${message.id}: ${err.type ?? ''} ${err.message}`)
  }
})
room.on('error', (err) => console.error(`server said ${err.type}: ${err.message}`))
room.on('state', (state) => {
  // `token`: the bot's token was revoked (or a new one issued): restart it with the new one.
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
