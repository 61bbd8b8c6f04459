/**
 * Live consensus with real parts in one process: a relay (LevelDB store, libp2p, its Messagenode
 * and its own validator) and headless validators connected to it over TCP. Validators are admitted
 * through the relay's admissions (admin-signed membership items sealed by consensus), transfers are
 * submitted to different validators, and every node must report the same sealed blocks, the same
 * state roots and the same balances.
 */
import '../../src/node/polyfills'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { WELCOME_GRANT } from '../../relay/src/admissions'
import { type Relay, startRelay } from '../../relay/src/relay'
import { type HeadlessValidator, startHeadlessValidator } from '../../relay/src/validator'
import type { PaymentsState } from '../../src/core/ledger/payments'
import type { ConsensusRuntime, RuntimeEvent } from '../../src/runtime/consensus-runtime'
import { ed25519, relayDeps, until, validatorDeps } from './live-fixtures'

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

describe('live consensus: relay + headless validators', () => {
  let base: string
  let distDir: string
  const relays: Relay[] = []
  const validators: HeadlessValidator[] = []

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'blockfin-live-'))
    distDir = join(base, 'dist')
    await mkdir(distDir, { recursive: true })
    await writeFile(join(distDir, 'index.html'), '<!doctype html><div id="app"></div>')
  })
  afterEach(async () => {
    for (const v of validators.splice(0)) await v.stop()
    for (const r of relays.splice(0)) await r.close()
    await rm(base, { recursive: true, force: true })
  })

  const startRelayAt = async (name: string) => {
    const started = await startRelay(
      { dataDir: join(base, name), distDir, host: '127.0.0.1', port: 0, tcpPort: 0 },
      relayDeps,
    )
    if (!started.ok) throw new Error(JSON.stringify(started.error))
    relays.push(started.value)
    return started.value
  }
  const startValidator = async (url: string, name: string) => {
    const started = await startHeadlessValidator({ dataDir: join(base, name), relay: url }, validatorDeps)
    if (!started.ok) throw new Error(JSON.stringify(started.error))
    validators.push(started.value)
    return started.value
  }

  it('the relay alone seals a transfer from its admin account with its own validator', async () => {
    const relay = await startRelayAt('relay')
    const host = relay.consensus.validator!
    expect(relay.consensus.messagenode).toBeDefined()
    const sealed = sealedLog(host)
    const admin = relay.adminKeys!
    const { createTransfer } = await import('../../src/core/ledger/payments')
    const item = await createTransfer(
      { keys: admin, to: relay.validatorKeys!.id, amount: 5, nonce: 1 },
      relay.network.key,
      ed25519,
    )
    const outcome = await host.submit([item])
    expect(outcome.rejected).toEqual([])
    await until(() => sealed.size > 0, 'a sealed block')
    expect(balancesOf(host)[relay.validatorKeys!.id]).toBe(5)
  })

  it('concurrent single submissions are committed in groups: each answer covers its own items, all durable', async () => {
    const relay = await startRelayAt('relay')
    const host = relay.consensus.validator!
    const admin = relay.adminKeys!
    const { createTransfer } = await import('../../src/core/ledger/payments')
    const { itemId } = await import('../../src/core/ledger/signed-item')
    const { deriveRoleKeys } = await import('../../src/core/identity/roles')
    const { decodeMessage } = await import('../../src/core/feed/decode')
    const { txItemsOf } = await import('../../src/core/consensus')
    const items = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        createTransfer(
          { keys: admin, to: relay.validatorKeys!.id, amount: 1, nonce: i + 1 },
          relay.network.key,
          ed25519,
        ),
      ),
    )
    // One submission also carries a forged copy: only that one is refused, with its own index.
    const forged = { ...items[0]!, amount: 2 }
    const txFeed = deriveRoleKeys(relay.validatorKeys!, 'transaction-validator').id
    const before = relay.store.head(txFeed)?.sequence ?? 0
    const outcomes = await Promise.all(
      items.map((item, i) => host.submit(i === 7 ? [forged as typeof item, item] : [item])),
    )
    for (const [i, o] of outcomes.entries()) {
      expect(o.accepted).toEqual([itemId(items[i]!)])
      expect(o.rejected).toEqual(i === 7 ? [expect.objectContaining({ code: 'TX_INVALID', index: 0 })] : [])
    }
    // Accepted means in the transaction feed already, and in fewer messages than submissions.
    const texts = await relay.store.range(txFeed, before + 1)
    const stored = new Set(
      texts.flatMap((t) => {
        const d = decodeMessage(t, relay.network.key)
        if (!d.ok) return []
        return (txItemsOf(d.value.value.content) ?? []).map((x) => itemId(x as (typeof items)[number]))
      }),
    )
    for (const item of items) expect(stored.has(itemId(item))).toBe(true)
    expect(texts.length).toBeLessThan(items.length / 2)
  })

  it('four validators admitted through the relay seal transfers submitted to different validators; all agree', async () => {
    const relay = await startRelayAt('relay')
    const url = `http://127.0.0.1:${relay.port}`
    const host = relay.consensus.validator!
    const hostSealed = sealedLog(host)
    const vs = await Promise.all([0, 1, 2, 3].map((i) => startValidator(url, `v${i}`)))
    const logs = vs.map((v) => sealedLog(v.runtime))

    // Each joins with the invite link /api/status shows, as `npm run validator -- --invite` does.
    const status = (await (await fetch(`${url}/api/status`)).json()) as { invite: string }
    expect(status.invite).toMatch(/\/\?join=[A-Za-z0-9_-]{22}&network=/)
    const joined = await Promise.all(vs.map((v) => v.join(status.invite)))
    for (const j of joined) if (!j.ok) throw new Error(JSON.stringify(j.error))
    await until(
      () => vs.every((v) => relay.admissions!.admission(v.id)?.status === 'admitted'),
      'all four admitted',
    )
    const activeFrom = Math.max(
      ...vs.map((v) => {
        const s = relay.admissions!.admission(v.id)
        return s?.status === 'admitted' ? s.activeFrom : Number.POSITIVE_INFINITY
      }),
    )
    // Every validator knows the five-member set and holds its welcome grant.
    await until(
      () =>
        vs.every(
          (v) => v.wallet.balance() === WELCOME_GRANT && v.runtime.view.membership.latest().set.n === 5,
        ),
      'every validator sees n = 5 and its grant',
    )

    // Transfers submitted to different validators: each pays the next one.
    for (let round = 0; round < 3; round++) {
      for (const [i, v] of vs.entries()) {
        const sent = await v.wallet.send(vs[(i + 1) % vs.length]!.id, 10 + i)
        if (!sent.ok) throw new Error(JSON.stringify(sent.error))
      }
    }
    await until(
      () => vs.every((v) => v.wallet.transfers().every((t) => t.status.stage === 'sealed')),
      'every transfer sealed',
    )
    const top = Math.max(...hostSealed.keys())
    expect(top).toBeGreaterThanOrEqual(activeFrom)
    await until(() => logs.every((l) => l.has(top)), 'every validator saw the top sealed height')
    // The blocks API serves the sealed blocks with their transfers, results and three QCs; from
    // activeFrom on, the admitted validators' votes are in the certificates.
    const block = (await (await fetch(`${url}/api/blocks/${top}`)).json()) as {
      stage: string
      transactions: unknown[]
      qcs: Record<
        'precommit' | 'commit' | 'seal',
        { votes: string[]; check: { ok: boolean; signers?: string[] } }
      >
    }
    expect(block.stage).toBe('sealed')
    for (const stage of ['precommit', 'commit', 'seal'] as const) {
      const qc = block.qcs[stage]
      expect(qc.check.ok, `${stage} QC checks`).toBe(true)
      expect(qc.votes.length).toBeGreaterThanOrEqual(4)
      // At least 3 of the 4 signers besides the relay's own validator are admitted validators.
      const admittedSigners = (qc.check.signers ?? []).filter((s) => vs.some((v) => v.id === s))
      expect(admittedSigners.length, `${stage} signers`).toBeGreaterThanOrEqual(3)
    }
    const consensus = (
      (await (await fetch(`${url}/api/status`)).json()) as { consensus: Record<string, unknown> }
    ).consensus
    expect(consensus).toMatchObject({ validators: { n: 5, f: 1, q: 4 } })
    // Each validator's votes count from the height its admission announced, never before. (A QC
    // holds the first q of n votes, so a given validator may be left out of the few blocks here.)
    const all = (await (await fetch(`${url}/api/blocks?from=1&to=${top}`)).json()) as {
      blocks: { height: number; qcs: Record<string, { check: { signers?: string[] } } | null> }[]
    }
    let counted = 0
    for (const [i, v] of vs.entries()) {
      const j = joined[i]!
      if (!j.ok) throw new Error('join failed')
      const signedAt = all.blocks
        .filter((b) => Object.values(b.qcs).some((qc) => qc?.check.signers?.includes(v.id)))
        .map((b) => b.height)
      if (signedAt.length > 0) counted++
      for (const h of signedAt)
        expect(h, `${v.id} counted from ${j.value.activeFrom}`).toBeGreaterThanOrEqual(j.value.activeFrom)
    }
    expect(counted).toBeGreaterThanOrEqual(3)
    // Agreement: the same block and state root at every height each pair has sealed.
    for (const l of logs)
      for (const [h, v] of l) if (hostSealed.has(h)) expect(v, `height ${h}`).toBe(hostSealed.get(h))
    // The same balances everywhere; each validator paid 3 × (10 + i) and received 3 × (10 + i - 1).
    const expected = balancesOf(host)
    for (const v of vs) expect(balancesOf(v.runtime)).toEqual(expected)
    for (const [i, v] of vs.entries()) {
      const paid = 3 * (10 + i)
      const got = 3 * (10 + ((i + vs.length - 1) % vs.length))
      expect(expected[v.id]).toBe(WELCOME_GRANT - paid + got)
    }
  }, 120_000)
})
