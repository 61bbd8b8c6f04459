/**
 * Process to process: a headless validator (npm run validator) appends thousands of messages to a
 * relay process, which is killed with SIGKILL in the middle and restarted on the same data
 * directory. Everything the relay acknowledged (served over its API before the kill) is still
 * served after it, gap-free, and the validator reconnects by itself and completes its feed.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'

const REPO = resolve(import.meta.dirname, '../..')

interface Proc {
  readonly child: ChildProcess
  output(): string
  kill(signal: NodeJS.Signals): Promise<void>
}

function run(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  child.stdout!.on('data', (c: Buffer) => {
    text += c.toString()
  })
  child.stderr!.on('data', (c: Buffer) => {
    text += c.toString()
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  return {
    child,
    output: () => text,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}

async function until<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  tries = 6000,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe()
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`never happened: ${what}`)
}

const freePort = () =>
  new Promise<number>((resolvePort) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolvePort(port))
    })
  })

const held = async (url: string, feed: string): Promise<number> => {
  try {
    const body = (await (await fetch(`${url}/api/feeds`)).json()) as {
      feeds: { id: string; sequence: number }[]
    }
    return body.feeds.find((f) => f.id === feed)?.sequence ?? 0
  } catch {
    return -1
  }
}

async function served(url: string, feed: string): Promise<number[]> {
  const out: number[] = []
  for (;;) {
    const page = (await (
      await fetch(`${url}/api/feeds/${encodeURIComponent(feed)}?since=${out.length}`)
    ).json()) as {
      sequence: number
    }[]
    if (page.length === 0) return out
    out.push(...page.map((m) => m.sequence))
  }
}

describe('relay killed under load', () => {
  const procs: Proc[] = []
  let base: string | undefined
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.kill('SIGTERM')
    if (base) await rm(base, { recursive: true, force: true })
  })

  it('serves every acknowledged message after SIGKILL, and the validator completes its feed', async () => {
    base = await mkdtemp(join(tmpdir(), 'blockfin-durability-'))
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const relayEnv = {
      PORT: String(port),
      BLOCKFIN_TCP_PORT: '0',
      HOST: '127.0.0.1',
      BLOCKFIN_DATA_DIR: join(base, 'relay'),
    }
    const startRelay = async () => {
      const relay = run(['relay/src/main.ts'], relayEnv)
      procs.push(relay)
      await until(() => (/open\s+http/.test(relay.output()) ? true : undefined), 'relay listening')
      return relay
    }
    let relay = await startRelay()
    const total = 3000
    const validator = run(
      [
        'relay/src/cli/validator.ts',
        '--relay',
        url,
        '--data',
        join(base, 'validator'),
        '--append',
        String(total),
      ],
      {},
    )
    procs.push(validator)
    const feed = await until(() => /identity\s+(@\S+)/.exec(validator.output())?.[1], 'validator identity')

    for (const killAt of [400, 1500]) {
      // Acknowledged: what the relay answers with from its store.
      const acknowledged = await until(async () => {
        const n = await held(url, feed)
        return n >= killAt ? n : undefined
      }, `relay holds ${killAt}`)
      await relay.kill('SIGKILL')
      relay = await startRelay()
      const sequences = await served(url, feed)
      expect(sequences.length).toBeGreaterThanOrEqual(acknowledged)
      expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, i) => i + 1))
    }
    // The validator reconnects by itself and the relay ends up with the whole feed: the role
    // certificates its consensus runtime published first, then the appended messages.
    const whole = total + 4
    await until(
      async () => ((await held(url, feed)) === whole ? true : undefined),
      'relay holds the whole feed',
    )
    expect(await served(url, feed)).toEqual(Array.from({ length: whole }, (_, i) => i + 1))
  }, 180_000)
})
