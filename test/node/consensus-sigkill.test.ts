/**
 * Fault test with real parts (issue 5): the relay — the network's only Messagenode, and one of its
 * five validators — is SIGKILLed in the middle of a block and restarted on the same data directory
 * and ports. The relay runs as a child process (`relay/src/main.ts`, as `npm start` does); four
 * headless validators run in this process, admitted through the relay's invite link, and keep
 * sending transfers to each other the whole time (the relay being down does not stop `wallet.send`:
 * a validator's transaction feed takes them, durably).
 *
 * The kill comes when the relay's `/api/status` shows a block assembled above the sealed height (a
 * block being voted on). Checked after the restart: every transfer `wallet.send` acknowledged, before,
 * during or after the outage, is sealed; sealing resumes above the height sealed before the kill;
 * the relay's `/api/blocks` serves every height it served as sealed before the kill with the same
 * block id; the validators' sealed logs agree with each other and with the relay; every validator
 * ends with the balances of the relay's `/api/accounts`.
 */
import '../../src/node/polyfills'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { WELCOME_GRANT } from '../../relay/src/admissions'
import { openLevelAdapter } from '../../relay/src/store/level-adapter'
import { type HeadlessValidator, startHeadlessValidator } from '../../relay/src/validator'
import type { FeedId } from '../../src/core/identity/ids'
import type { PaymentsState } from '../../src/core/ledger/payments'
import { createNodeBackend, createNodeHasher } from '../../src/crypto/node'
import type { ConsensusRuntime, RuntimeEvent } from '../../src/runtime/consensus-runtime'

const REPO = resolve(import.meta.dirname, '../..')
const ed25519 = createNodeBackend()
const validatorDeps = {
  ed25519,
  hasher: createNodeHasher(),
  randomBytes: (n: number) => new Uint8Array(randomBytes(n)),
  now: () => Date.now(),
  fetch: (...a: Parameters<typeof fetch>) => fetch(...a),
  openFeedAdapter: openLevelAdapter,
}
/** Transfers per validator, at most (bounded run). */
const MAX_SENDS = 30

interface RelayProcess {
  readonly child: ChildProcess
  output(): string
  kill(signal: NodeJS.Signals): Promise<void>
}

/** Starts the relay CLI on fixed ports (the same after a restart) and waits until it listens. */
async function startRelayProcess(dataDir: string, port: number, tcpPort: number): Promise<RelayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/src/main.ts'], {
    cwd: REPO,
    env: {
      ...process.env,
      PORT: String(port),
      BLOCKFIN_TCP_PORT: String(tcpPort),
      HOST: '127.0.0.1',
      BLOCKFIN_DATA_DIR: dataDir,
    },
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
  await new Promise<void>((resolveListening, reject) => {
    const onData = () => {
      if (/open\s+http:\/\/\S+/.test(text)) {
        child.stdout!.off('data', onData)
        resolveListening()
      }
    }
    child.stdout!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`relay exited (${code}) before listening:\n${text}`)))
  })
  return {
    child,
    output: () => text,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}

const freePort = () =>
  new Promise<number>((resolvePort) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolvePort(port))
    })
  })

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await condition()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`never happened within ${ms} ms: ${what}`)
}

const getJson = async <T>(url: string): Promise<T | undefined> => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) })
    return response.ok ? ((await response.json()) as T) : undefined
  } catch {
    return undefined
  }
}

interface Heights {
  assembled: number
  precommitted: number
  committed: number
  sealed: number
}
interface BlockRecord {
  height: number
  block: string | null
  stage: string
}

/** Sealed heights with their roots, as one runtime saw them. */
function sealedLog(runtime: ConsensusRuntime): Map<number, string> {
  const log = new Map<number, string>()
  runtime.onEvent((e: RuntimeEvent) => {
    if (e.type === 'sealed') log.set(e.height, `${e.block} ${e.stateRoot}`)
  })
  return log
}

const balancesOf = (runtime: ConsensusRuntime) =>
  Object.fromEntries(
    [...(runtime.view.appState as PaymentsState).accounts].map(([id, a]) => [id, a.balance]).sort(),
  )

describe('relay SIGKILL during a block', () => {
  let base = ''
  let relay: RelayProcess | undefined
  const validators: HeadlessValidator[] = []

  afterEach(async () => {
    for (const v of validators.splice(0)) await v.stop()
    await relay?.kill('SIGKILL')
    relay = undefined
    if (base) await rm(base, { recursive: true, force: true })
  })

  it('loses no sealed block and no acknowledged transfer, and sealing resumes after the restart', async () => {
    base = await mkdtemp(join(tmpdir(), 'blockfin-sigkill-consensus-'))
    const dataDir = join(base, 'relay')
    const [port, tcpPort] = [await freePort(), await freePort()]
    const url = `http://127.0.0.1:${port}`
    relay = await startRelayProcess(dataDir, port, tcpPort)

    const vs = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const started = await startHeadlessValidator(
          { dataDir: join(base, `v${i}`), relay: url },
          validatorDeps,
        )
        if (!started.ok) throw new Error(JSON.stringify(started.error))
        validators.push(started.value)
        return started.value
      }),
    )
    const logs = vs.map((v) => sealedLog(v.runtime))
    const status = (await getJson<{ invite: string }>(`${url}/api/status`))!
    const joined = await Promise.all(vs.map((v) => v.join(status.invite)))
    for (const j of joined) if (!j.ok) throw new Error(JSON.stringify(j.error))
    await until(
      () =>
        vs.every(
          (v) => v.wallet.balance() === WELCOME_GRANT && v.runtime.view.membership.latest().set.n === 5,
        ),
      'every validator sees n = 5 and its grant',
    )

    // Transfers flow from every validator to the next, until stopped; acknowledged ones are kept.
    const acknowledged: { from: FeedId; to: FeedId; amount: number; id: string }[] = []
    let sending = true
    const senders = vs.map(async (v, i) => {
      const to = vs[(i + 1) % vs.length]!.id
      for (let n = 1; sending && n <= MAX_SENDS; n++) {
        const sent = await v.wallet.send(to, n)
        if (!sent.ok) throw new Error(`${v.id} send ${n}: ${JSON.stringify(sent.error)}`)
        acknowledged.push({ from: v.id, to, amount: n, id: sent.value.id })
        await new Promise((r) => setTimeout(r, 150 + 40 * i))
      }
    })

    // Kill in the middle of a block: assembled above the sealed height, a few heights in.
    const start = (await getJson<{ consensus: { heights: Heights } }>(`${url}/api/status`))!.consensus.heights
    let atKill: Heights | undefined
    await until(async () => {
      const h = (await getJson<{ consensus: { heights: Heights } }>(`${url}/api/status`))?.consensus.heights
      if (!h || h.sealed < start.sealed + 2 || h.assembled <= h.sealed) return false
      atKill = h
      return true
    }, 'a block being voted on, two heights after the transfers began')
    // Everything the relay serves as sealed now, then the kill right away.
    const before = (await getJson<{ blocks: BlockRecord[] }>(
      `${url}/api/blocks?from=1&to=${atKill!.sealed}`,
    ))!
    await relay.kill('SIGKILL')
    expect(relay.child.signalCode).toBe('SIGKILL')
    const sealedBefore = before.blocks.filter((b) => b.stage === 'sealed')
    expect(sealedBefore.length).toBeGreaterThanOrEqual(atKill!.sealed - 1)
    const ackedAtKill = acknowledged.length

    // Transfers keep being acknowledged while the relay is down; then it restarts, same dir and ports.
    await until(
      () => acknowledged.length >= ackedAtKill + 4,
      'transfers acknowledged while the relay is down',
    )
    relay = await startRelayProcess(dataDir, port, tcpPort)
    const topBefore = Math.max(atKill!.sealed, ...logs.map((l) => Math.max(0, ...l.keys())))
    await until(
      async () =>
        ((await getJson<{ consensus: { heights: Heights } }>(`${url}/api/status`))?.consensus.heights
          .sealed ?? 0) >
        topBefore + 1,
      'sealing resumed after the restart',
      60_000,
    )
    sending = false
    await Promise.all(senders)
    expect(acknowledged.length).toBeGreaterThan(ackedAtKill + 4)

    // Every acknowledged transfer is sealed, and none failed.
    await until(
      () => vs.every((v) => v.wallet.transfers().every((t) => t.status.stage === 'sealed')),
      'every acknowledged transfer sealed',
    )
    for (const v of vs) expect(v.wallet.transfers().filter((t) => t.status.stage !== 'sealed')).toEqual([])
    const walletIds = new Set(vs.flatMap((v) => v.wallet.transfers().map((t) => t.id)))
    for (const t of acknowledged) expect(walletIds.has(t.id as never)).toBe(true)

    // The relay serves every height it served as sealed before the kill with the same block.
    const top = Math.max(...logs.map((l) => Math.max(...l.keys())))
    await until(
      async () =>
        ((await getJson<{ consensus: { heights: Heights } }>(`${url}/api/status`))?.consensus.heights
          .sealed ?? 0) >= top,
      'the relay sealed the top height the validators sealed',
    )
    const after = (await getJson<{ blocks: BlockRecord[] }>(`${url}/api/blocks?from=1&to=${top}`))!
    const afterByHeight = new Map(after.blocks.map((b) => [b.height, b]))
    for (const b of sealedBefore) {
      expect(afterByHeight.get(b.height)?.stage, `height ${b.height}`).toBe('sealed')
      expect(afterByHeight.get(b.height)?.block, `height ${b.height}`).toBe(b.block)
    }
    // The validators agree with each other and with the relay on every sealed block.
    for (const l of logs)
      for (const [h, v] of l) {
        expect(v, `height ${h}`).toBe(logs[0]!.get(h) ?? v)
        const served = afterByHeight.get(h)
        if (served) expect(served.block, `height ${h}`).toBe(v.split(' ')[0])
      }

    // Same balances everywhere, and they add up to what was acknowledged.
    await until(async () => {
      const accounts = await getJson<{ height: number }>(`${url}/api/accounts`)
      return !!accounts && vs.every((v) => v.runtime.view.membership.executedHeight === accounts.height)
    }, 'the relay and the validators executed the same height')
    const accounts = (await getJson<{ accounts: Record<string, { balance: number }> }>(
      `${url}/api/accounts`,
    ))!
    const relayBalances = Object.fromEntries(
      Object.entries(accounts.accounts)
        .map(([id, a]) => [id, a.balance])
        .sort(),
    )
    for (const v of vs) expect(balancesOf(v.runtime)).toEqual(relayBalances)
    for (const v of vs) {
      const paid = acknowledged.filter((t) => t.from === v.id).reduce((s, t) => s + t.amount, 0)
      const got = acknowledged.filter((t) => t.to === v.id).reduce((s, t) => s + t.amount, 0)
      expect(relayBalances[v.id]).toBe(WELCOME_GRANT - paid + got)
    }
  }, 150_000)
})
