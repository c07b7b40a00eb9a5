/** The pool of load generator processes (bench/worker.ts), one request at a time per worker over IPC. */
import type { Subprocess } from 'bun'
import { join } from 'node:path'
import { profileFlags, readCpuSeconds } from './servers.ts'
import { mergeHistograms, type CheckReply, type Command, type ConnectReply, type Reply, type RunMode, type RunReply, type SocketSpec } from './protocol.ts'

interface Worker {
  proc: Subprocess
  waiting: PromiseWithResolvers<Reply> | undefined
}

/** Every generator's check, added up. */
export type Totals = Omit<CheckReply, 'op'>

export class Generators {
  private readonly workers: Worker[] = []

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const worker: Worker = { proc: undefined as unknown as Subprocess, waiting: undefined }
      worker.proc = Bun.spawn({
        cmd: [process.execPath, ...profileFlags('BENCH_PROFILE_GENERATORS'), join(import.meta.dir, 'worker.ts')],
        env: { ...process.env, BENCH_WORKER: String(i) },
        stdio: ['ignore', 'inherit', 'inherit'],
        ipc(message: Reply) {
          const waiting = worker.waiting
          worker.waiting = undefined
          waiting?.resolve(message)
        },
        onExit(_proc, code) {
          worker.waiting?.reject(new Error(`generator ${i} exited with ${code}`))
        },
      })
      this.workers.push(worker)
    }
  }

  /** CPU seconds used by all generator processes so far (to show they are not the bottleneck). */
  cpuSeconds(): number {
    return this.workers.reduce((n, w) => n + readCpuSeconds(w.proc.pid), 0)
  }

  private request<R extends Reply>(i: number, cmd: Command): Promise<R> {
    const worker = this.workers[i]!
    if (worker.waiting) throw new Error(`generator ${i} is busy`)
    worker.waiting = Promise.withResolvers<Reply>()
    worker.proc.send(cmd)
    return worker.waiting.promise as Promise<R>
  }

  private all<R extends Reply>(cmd: (i: number) => Command): Promise<R[]> {
    return Promise.all(this.workers.map((_, i) => this.request<R>(i, cmd(i))))
  }

  /** Opens `sockets`, dealt round-robin by `workerOf` (default: index modulo workers); waits for every welcome. */
  async connect(
    host: string,
    port: number,
    sockets: SocketSpec[],
    opts: { concurrency: number; timeoutMs: number; workerOf?: (index: number) => number },
  ): Promise<{ opened: number; failed: number; elapsedMs: number; firstError: string | undefined }> {
    const shares: SocketSpec[][] = this.workers.map(() => [])
    sockets.forEach((s, i) => shares[(opts.workerOf ?? ((k) => k))(i) % this.size]!.push(s))
    const perWorker = Math.max(1, Math.ceil(opts.concurrency / this.size))
    const replies = await this.all<ConnectReply>((i) => ({ op: 'connect', host, port, sockets: shares[i]!, concurrency: perWorker, timeoutMs: opts.timeoutMs }))
    return {
      opened: replies.reduce((n, r) => n + r.opened, 0),
      failed: replies.reduce((n, r) => n + r.failed, 0),
      elapsedMs: Math.max(...replies.map((r) => r.elapsedMs)),
      firstError: replies.find((r) => r.firstError)?.firstError,
    }
  }

  /** Every worker's publishers run `mode`; resolves when all have stopped and their own copies came back (or `drainMs` passed). */
  async run(mode: (worker: number) => RunMode, drainMs: number): Promise<{ sent: number; acked: number; rejected: number; roomSent: Record<string, number> }> {
    const replies = await this.all<RunReply>((i) => ({ op: 'run', drainMs, ...mode(i) }))
    const roomSent: Record<string, number> = {}
    for (const r of replies) for (const [room, n] of Object.entries(r.roomSent)) roomSent[room] = (roomSent[room] ?? 0) + n
    return {
      sent: replies.reduce((n, r) => n + r.sent, 0),
      acked: replies.reduce((n, r) => n + r.acked, 0),
      rejected: replies.reduce((n, r) => n + r.rejected, 0),
      roomSent,
    }
  }

  async check(roomSent: Record<string, number>): Promise<Totals> {
    const replies = await this.all<CheckReply>(() => ({ op: 'check', roomSent }))
    return {
      delivered: replies.reduce((n, r) => n + r.delivered, 0),
      expected: replies.reduce((n, r) => n + r.expected, 0),
      mismatched: replies.reduce((n, r) => n + r.mismatched, 0),
      lastAt: Math.max(...replies.map((r) => r.lastAt)),
      errors: replies.reduce((n, r) => n + r.errors, 0),
      unexpectedCloses: replies.reduce((n, r) => n + r.unexpectedCloses, 0),
      closeCodes: replies.flatMap((r) => r.closeCodes),
      latency: mergeHistograms(replies.map((r) => r.latency)),
      remoteLatency: mergeHistograms(replies.map((r) => r.remoteLatency)),
      unread: replies.reduce((n, r) => n + r.unread, 0),
      silentStreams: replies.reduce((n, r) => n + r.silentStreams, 0),
      outOfOrder: replies.reduce((n, r) => n + r.outOfOrder, 0),
    }
  }

  /** Polls until every socket has exactly what its room was sent, or `timeoutMs` passed; returns the last totals. */
  async waitDelivered(roomSent: Record<string, number>, timeoutMs: number): Promise<Totals> {
    const until = performance.now() + timeoutMs
    for (;;) {
      const totals = await this.check(roomSent)
      if ((totals.mismatched === 0 && totals.delivered === totals.expected) || performance.now() > until) return totals
      await Bun.sleep(20)
    }
  }

  async reset(): Promise<void> {
    await this.all(() => ({ op: 'reset' }))
  }

  async closeAll(): Promise<void> {
    await this.all(() => ({ op: 'close' }))
  }

  async exit(): Promise<void> {
    for (const w of this.workers) {
      try {
        w.proc.send({ op: 'exit' } satisfies Command)
      } catch {
        // already gone
      }
    }
    await Promise.race([Promise.all(this.workers.map((w) => w.proc.exited)), Bun.sleep(3000)])
    for (const w of this.workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL')
  }
}
