/**
 * Backing up and restoring a cluster's PostgreSQL database as docs/OPERATIONS.md says: `pg_dump
 * --format=custom` while the server runs, `pg_restore --no-owner --exit-on-error --single-transaction`
 * into a new empty database, and a server started on that one finds the accounts, the history and the
 * attachments (whose bytes live in the database). As in production, the databases belong to a role
 * that is not a superuser, which runs the server, the dump and the restore. Skipped where PostgreSQL
 * is not installed.
 */
import { SQL } from 'bun'
import { expect } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { register, request } from '../support/http.ts'
import { makePng } from '../support/images.ts'
import { findPostgresBin, requireServices } from '../support/require-services.ts'
import { startTestServer } from '../support/server.ts'
import { startPostgres, type Service } from '../support/services.ts'
import { openSocket } from '../support/socket.ts'
import { withTimeout } from '../support/wait.ts'

const gate = requireServices('postgresql')
let cluster: Service | undefined
gate.afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]()
})

async function run(argv: string[]): Promise<void> {
  const proc = Bun.spawn(argv, { stdout: 'pipe', stderr: 'pipe' })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000)
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${err}`)
}

gate.test(
  'pg_dump of a running server, pg_restore into a new database: accounts, history and attachments are there',
  async () => {
    cluster = await startPostgres()
    const bin = findPostgresBin()!
    const dir = mkdtempSync(join(tmpdir(), 'chat-pgdump-'))
    const admin = new SQL(cluster.url)
    const owner = `chat_owner_${process.pid}`
    const urlOf = (name: string) => {
      const url = new URL(cluster!.url)
      url.username = owner
      url.pathname = `/${name}`
      return url.href
    }
    try {
      await admin.unsafe(`CREATE ROLE ${owner} LOGIN`)
      await admin.unsafe(`CREATE DATABASE chat_live OWNER ${owner}`)
      await admin.unsafe(`CREATE DATABASE chat_restored OWNER ${owner}`)
      const png = makePng(2, 2)
      const dump = join(dir, 'chat.dump')
      let id: string
      let text: string
      {
        await using server = await startTestServer({ config: { database: urlOf('chat_live') } })
        const alice = await register(server.url, 'alice')
        const uploaded = await request(`${server.url}/api/v1/rooms/lobby/attachments?filename=dot.png`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${alice.token}` },
          body: png,
        })
        id = uploaded.body.data.id
        using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
        await withTimeout(socket.next('welcome'), 5000, 'welcome')
        socket.send({ type: 'message', text: 'kept by pg_dump', attachments: [id] })
        text = (await withTimeout(socket.next('message'), 5000, 'the message')).data.text
        // While the server runs: pg_dump reads one snapshot.
        await run([join(bin, 'pg_dump'), '--format=custom', `--file=${dump}`, urlOf('chat_live')])
      }
      await run([join(bin, 'pg_restore'), '--no-owner', '--exit-on-error', '--single-transaction', `--dbname=${urlOf('chat_restored')}`, dump])

      await using server = await startTestServer({ config: { database: urlOf('chat_restored') } })
      const login = await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: 'correct horse battery staple' } })
      expect(login.status).toBe(200)
      const history = await request(`${server.url}/api/v1/rooms/lobby/messages`)
      expect(history.body.data.messages.map((m: { text: string }) => m.text)).toEqual([text])
      const file = await fetch(`${server.url}/api/v1/attachments/${id}`, { headers: { Authorization: `Bearer ${login.body.data.token}` } })
      expect(new Uint8Array(await file.arrayBuffer())).toEqual(png)
    } finally {
      await admin.unsafe('DROP DATABASE IF EXISTS chat_live WITH (FORCE)')
      await admin.unsafe('DROP DATABASE IF EXISTS chat_restored WITH (FORCE)')
      await admin.unsafe(`DROP ROLE IF EXISTS ${owner}`)
      await admin.close()
      rmSync(dir, { recursive: true, force: true })
    }
  },
  60_000,
)
