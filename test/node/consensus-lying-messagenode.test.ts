/**
 * Fault test with real parts (issue 5): three relays, all three genesis Messagenodes, one of them
 * lying. Relay A creates the network naming B's and C's relay keys as Messagenodes too
 * (`extraMessagenodes`; B and C made their keys first with `ensureRelayIdentity`), B and C join A's
 * network (`join`, as BLOCKFIN_JOIN does) and run their Messagenodes; four headless validators are
 * admitted through A's invite link and send transfers.
 *
 * The liar is relay B, the real relay with the `messagenodeTransform` test seam: every commit QC
 * its counter publishes names a block nobody voted for (the "liar's block"), and every precommit QC
 * carries a wrong signature root. Seal QCs and assembled blocks stay honest. The core flags both
 * kinds (`QC_VOTE_MISMATCH` → qc-evidence `vote-mismatch`, `QC_SIG_ROOT_MISMATCH` → `sig-root`):
 * validators never act on a QC (they count votes themselves), cross-check every QC against the
 * votes it links, and emit `messagenode-flagged` with self-contained evidence. (Assembled blocks
 * with a gapped cut are refused as `block-invalid` but not flagged, so they are not the lie here.)
 *
 * Checked: blocks keep sealing after the liar is flagged; no validator decides or seals the liar's
 * block; every validator and relay A agree on the sealed blocks, state roots and balances; the
 * validators and relay A's GET /api/status (`consensus.flagged`) name B with evidence anyone can
 * verify offline; the honest Messagenodes are never flagged; and the validators' evidence items,
 * sealed like transactions, take B out of the Messagenode set (A and C carry on).
 *
 * Core bug this exposed (fixed in view.ts `convict`): a node published evidence only for its first
 * conviction of an owner. With q = 4 the first lie seen is the precommit QC's sig-root, whose
 * evidence (the QC, all q votes, their bindings: ~9.4 KB) does not fit one message, so it was only
 * reported; the later vote-mismatch evidence (~4 KB) was never published, and the liar was never
 * excluded. Now the first record that fits is published.
 */
import '../../src/node/polyfills'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { WELCOME_GRANT } from '../../relay/src/admissions'
import { ensureRelayIdentity } from '../../relay/src/data-dir'
import { type Relay, type RelayOptions, startRelay } from '../../relay/src/relay'
import { type HeadlessValidator, startHeadlessValidator } from '../../relay/src/validator'
import { CONTENT, type ConsensusEvidence, parseQc, qcContent, verifyEvidence } from '../../src/core/consensus'
import type { FeedId } from '../../src/core/identity/ids'
import type { PaymentsState } from '../../src/core/ledger/payments'
import { type Digest, digestOfText } from '../../src/core/merkle'
import type { ConsensusRuntime, RuntimeEvent, RuntimePublish } from '../../src/runtime/consensus-runtime'
import { ed25519, relayDeps, until, validatorDeps } from './live-fixtures'

interface Watch {
  readonly sealed: Map<number, string>
  readonly decided: Map<number, Digest>
  readonly flagged: { owner: FeedId; evidence: ConsensusEvidence; sealedHeight: number }[]
}

/** What one runtime decided, sealed and flagged. */
function watch(runtime: ConsensusRuntime): Watch {
  const w: Watch = { sealed: new Map(), decided: new Map(), flagged: [] }
  runtime.onEvent((e: RuntimeEvent) => {
    if (e.type === 'sealed') w.sealed.set(e.height, `${e.block} ${e.stateRoot}`)
    else if (e.type === 'decided') w.decided.set(e.height, e.block)
    else if (e.type === 'messagenode-flagged')
      w.flagged.push({ owner: e.owner, evidence: e.evidence, sealedHeight: runtime.status().sealedHeight })
  })
  return w
}

const balancesOf = (runtime: ConsensusRuntime) =>
  Object.fromEntries(
    [...(runtime.view.appState as PaymentsState).accounts].map(([id, a]) => [id, a.balance]).sort(),
  )

/** The lie: commit QCs name a block nobody voted for, precommit QCs a wrong signature root. */
interface Lies {
  /** Off until the validators are in: the liar lies to a live five-validator network. */
  on: boolean
  readonly block: Set<Digest>
  sigRoot: number
}

function lyingCounter(lies: Lies) {
  return (p: RuntimePublish): RuntimePublish => {
    const qc = p.content.type === CONTENT.qc ? parseQc(p.content) : undefined
    if (!qc || !lies.on) return p
    if (qc.stage === 'commit') {
      const block = digestOfText(`the liar's block ${qc.height}/${qc.round}`)
      lies.block.add(block)
      return { ...p, content: qcContent({ ...qc, block }) }
    }
    if (qc.stage === 'precommit') {
      lies.sigRoot++
      return { ...p, content: qcContent({ ...qc, sigRoot: digestOfText(`wrong root ${qc.height}`) }) }
    }
    return p
  }
}

describe('three relays as Messagenodes, one lying', () => {
  let base: string
  let distDir: string
  const relays: Relay[] = []
  const validators: HeadlessValidator[] = []

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'blockfin-liar-'))
    distDir = join(base, 'dist')
    await mkdir(distDir, { recursive: true })
    await writeFile(join(distDir, 'index.html'), '<!doctype html><div id="app"></div>')
  })
  afterEach(async () => {
    for (const v of validators.splice(0)) await v.stop()
    for (const r of relays.splice(0).reverse()) await r.close()
    await rm(base, { recursive: true, force: true })
  })

  const startRelayAt = async (name: string, extra: Partial<RelayOptions> = {}) => {
    const started = await startRelay(
      { dataDir: join(base, name), distDir, host: '127.0.0.1', port: 0, tcpPort: 0, ...extra },
      relayDeps,
    )
    if (!started.ok) throw new Error(JSON.stringify(started.error))
    relays.push(started.value)
    return started.value
  }

  it('blocks keep sealing, nobody acts on the false QCs, and the liar is flagged with evidence', async () => {
    // B and C make their relay keys first, so A's genesis can name them.
    const keyB = await ensureRelayIdentity(join(base, 'relay-b'), relayDeps)
    const keyC = await ensureRelayIdentity(join(base, 'relay-c'), relayDeps)
    if (!keyB.ok || !keyC.ok) throw new Error('relay keys')
    const liar = keyB.value.id
    const a = await startRelayAt('relay-a', { extraMessagenodes: [liar, keyC.value.id] })
    const url = `http://127.0.0.1:${a.port}`
    expect(a.network.genesis.messagenodes).toEqual([a.relayKeys.id, liar, keyC.value.id])
    const lies: Lies = { on: false, block: new Set<Digest>(), sigRoot: 0 }
    const b = await startRelayAt('relay-b', { join: url, messagenodeTransform: lyingCounter(lies) })
    const c = await startRelayAt('relay-c', { join: url })
    expect(b.network.id).toBe(a.network.id)
    expect(b.relayKeys.id).toBe(liar)
    expect(b.consensus.messagenode).toBeDefined()
    expect(c.consensus.messagenode).toBeDefined()
    const host = watch(a.consensus.validator!)
    const honest = [watch(a.consensus.messagenode!), watch(c.consensus.messagenode!)]

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
    const watches = vs.map((v) => watch(v.runtime))
    const status = (await (await fetch(`${url}/api/status`)).json()) as { invite: string }
    const joined = await Promise.all(vs.map((v) => v.join(status.invite)))
    for (const j of joined) if (!j.ok) throw new Error(JSON.stringify(j.error))
    await until(
      () =>
        vs.every(
          (v) => v.wallet.balance() === WELCOME_GRANT && v.runtime.view.membership.latest().set.n === 5,
        ),
      'every validator sees n = 5 and its grant',
    )

    const sendRound = async (amount: number) => {
      for (const [i, v] of vs.entries()) {
        const sent = await v.wallet.send(vs[(i + 1) % vs.length]!.id, amount + i)
        if (!sent.ok) throw new Error(JSON.stringify(sent.error))
      }
    }
    const allSealed = () => vs.every((v) => v.wallet.transfers().every((t) => t.status.stage === 'sealed'))
    await sendRound(10)
    await until(allSealed, 'the first transfers sealed')
    expect(watches.every((w) => w.flagged.length === 0)).toBe(true)

    // From now on B lies in every commit and precommit QC.
    const liesFrom = host.sealed.size === 0 ? 0 : Math.max(...host.sealed.keys())
    lies.on = true
    await sendRound(20)

    // Every validator flags the liar, with evidence; the transfers still seal.
    await until(
      () => watches.every((w) => w.flagged.some((f) => f.owner === liar)),
      'every validator flagged the lying Messagenode',
    )
    const flaggedAt = Math.max(...watches.map((w) => w.flagged.find((f) => f.owner === liar)!.sealedHeight))
    expect(flaggedAt).toBeGreaterThanOrEqual(liesFrom)
    await until(allSealed, 'the transfers sent while B lies sealed')
    // The validators put the evidence into blocks: consensus takes B out of the Messagenode set.
    const everyone = [a.consensus.validator!, ...vs.map((v) => v.runtime)]
    await until(
      () => everyone.every((r) => !r.view.membership.latest().set.messagenodes.includes(liar)),
      'the liar left the Messagenode set everywhere',
    )
    expect(vs[0]!.runtime.view.membership.latest().set.messagenodes).toEqual(
      [a.relayKeys.id, keyC.value.id].sort(),
    )
    // Blocks keep sealing without B: a third round of transfers seals above the flag.
    await sendRound(30)
    await until(allSealed, 'the transfers sent after the flag sealed')
    const top = Math.max(...host.sealed.keys())
    expect(top).toBeGreaterThan(flaggedAt)
    await until(() => watches.every((w) => w.sealed.has(top)), 'every validator saw the top sealed height')

    expect(lies.block.size).toBeGreaterThan(0)
    expect(lies.sigRoot).toBeGreaterThan(0)
    // Nobody decided or sealed the liar's block; everyone agrees with relay A's validator.
    for (const w of [host, ...watches]) {
      for (const block of w.decided.values()) expect(lies.block.has(block)).toBe(false)
      for (const [h, v] of w.sealed) {
        expect(lies.block.has(v.split(' ')[0] as Digest)).toBe(false)
        if (host.sealed.has(h)) expect(v, `height ${h}`).toBe(host.sealed.get(h))
      }
    }
    const expected = balancesOf(a.consensus.validator!)
    for (const v of vs) expect(balancesOf(v.runtime)).toEqual(expected)
    for (const [i, v] of vs.entries()) {
      const prev = (i + vs.length - 1) % vs.length
      expect(expected[v.id]).toBe(WELCOME_GRANT - (60 + 3 * i) + (60 + 3 * prev))
    }
    // The honest Messagenodes' aggregates certify the same blocks: for every height sealed while B
    // lied and after, A's blocks API serves the sealed block with checked QCs (never the liar's).
    for (let h = liesFrom + 1; h <= top; h++) {
      const block = (await (await fetch(`${url}/api/blocks/${h}`)).json()) as {
        block: string
        stage: string
        qcs: Record<'precommit' | 'commit' | 'seal', { block: string; check: { ok: boolean } } | null>
      }
      expect(block.stage, `height ${h}`).toBe('sealed')
      expect(block.block, `height ${h}`).toBe(host.sealed.get(h)!.split(' ')[0])
      for (const stage of ['precommit', 'commit', 'seal'] as const)
        expect(block.qcs[stage]?.check.ok, `${stage} QC of height ${h}`).toBe(true)
    }

    // Only the liar is flagged, and its evidence convicts it offline (network key + signed messages).
    const ctx = { networkKey: a.network.key, networkId: a.network.id }
    for (const w of [host, ...honest, ...watches])
      for (const f of w.flagged) {
        expect(f.owner).toBe(liar)
        const checked = await verifyEvidence(f.evidence, ctx, ed25519)
        expect(checked).toEqual({ ok: true, value: { culprit: liar } })
      }
    const kinds = new Set(
      watches.flatMap((w) =>
        w.flagged.map((f) => (f.evidence.type === 'blockfin/qc-evidence' ? f.evidence.lie : f.evidence.type)),
      ),
    )
    expect([...kinds].sort()).toEqual(['sig-root', 'vote-mismatch'])

    // Relay A's status shows the flag with the evidence.
    const consensus = (
      (await (await fetch(`${url}/api/status`)).json()) as {
        consensus: { flagged: { owner: string; evidence: ConsensusEvidence }[] }
      }
    ).consensus
    expect(consensus.flagged.map((f) => f.owner)).toEqual([liar])
    const evidence = consensus.flagged[0]!.evidence
    expect(evidence).toMatchObject({ type: 'blockfin/qc-evidence', counter: liar })
    expect(await verifyEvidence(evidence, ctx, ed25519)).toEqual({ ok: true, value: { culprit: liar } })
  }, 120_000)
})
