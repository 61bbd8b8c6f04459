/**
 * The wallet's history survives a restart: a real validator runtime and a Messagenode runtime over
 * one FeedStore on a MemoryDisk (the relay's arrangement, one vote, f = 0) seal a transfer sent
 * through the wallet; after both stop and start again on the same disk, a wallet attached before
 * the replay lists that transfer as sealed, keeps numbering nonces after it, and shows no forged
 * "transfer" that another feed claims the owner made.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { CONTENT, type ConsensusGenesis } from '../../src/core/consensus'
import { createPaymentsLedger } from '../../src/core/ledger/payments'
import { systemClock } from '../../src/net/replication/rate-limit'
import { ConsensusRuntime } from '../../src/runtime/consensus-runtime'
import { createWallet, type Wallet } from '../../src/runtime/wallet'
import { FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter, MemoryDisk } from '../../src/store/memory-adapter'
import { ed25519, keys, NETWORK_ID, NETWORK_KEY, runtimeOptions, TEST_PARAMS } from './consensus-harness'

const owner = keys(1)
const messagenode = keys(2)
const recipient = keys(3)
const stranger = keys(4)
const genesis: ConsensusGenesis = {
  networkId: NETWORK_ID,
  validators: [owner.id],
  messagenodes: [messagenode.id],
  admins: [],
  params: TEST_PARAMS,
}

interface Node {
  readonly store: FeedStore
  readonly validator: ConsensusRuntime
  readonly messagenode: ConsensusRuntime
  readonly wallet: Wallet
  stop(): Promise<void>
}

const running: Node[] = []
afterEach(async () => {
  for (const n of running.splice(0)) await n.stop()
})

/** Both runtimes over one store on `disk`; the wallet attaches before the validator's replay. */
async function start(disk: MemoryDisk): Promise<Node> {
  const store = await FeedStore.open(
    { networkKey: NETWORK_KEY },
    { adapter: createMemoryAdapter(disk), ed25519 },
  )
  const deps = {
    store,
    ed25519,
    app: createPaymentsLedger({ allocations: { [owner.id]: 1000 } }),
    clock: systemClock,
  }
  const mn = await ConsensusRuntime.start(runtimeOptions('messagenode', messagenode, genesis), deps)
  let wallet: Wallet | undefined
  const validator = await ConsensusRuntime.start(runtimeOptions('validator', owner, genesis), deps, (rt) => {
    wallet = createWallet({ keys: owner, networkKey: NETWORK_KEY }, { runtime: rt, ed25519, now: Date.now })
  })
  const node: Node = {
    store,
    validator,
    messagenode: mn,
    wallet: wallet!,
    async stop() {
      running.splice(running.indexOf(node), 1)
      await validator.stop()
      await mn.stop()
      await store.close()
    },
  }
  running.push(node)
  return node
}

async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!condition()) {
    if (Date.now() > end) throw new Error(`never happened within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const allSealed = (w: Wallet) =>
  w.transfers().length > 0 && w.transfers().every((t) => t.status.stage === 'sealed')

describe('wallet history', () => {
  it('lists the transfers sent before a restart with their stages, from the replayed feeds', async () => {
    const disk = new MemoryDisk()
    const first = await start(disk)
    const sent = await first.wallet.send(recipient.id, 25)
    if (!sent.ok) throw new Error(JSON.stringify(sent.error))
    await until(() => allSealed(first.wallet), 'the transfer sealed')
    const before = first.wallet.transfers()
    expect(before).toHaveLength(1)
    expect(before[0]).toMatchObject({ id: sent.value.id, to: recipient.id, amount: 25, nonce: 1 })
    expect(first.wallet.balance()).toBe(975)

    // Someone else's feed claims a transfer from the owner (a forged signature): not the owner's.
    const forged = {
      type: 'transfer',
      from: owner.id,
      to: stranger.id,
      amount: 500,
      nonce: 2,
      signature: `${'A'.repeat(86)}==.sig.ed25519`,
    }
    const published = await first.store.publish(stranger, { type: CONTENT.tx, txs: [forged] }, Date.now())
    expect(published.ok).toBe(true)
    await first.stop()

    const second = await start(disk)
    const after = second.wallet.transfers()
    expect(after).toHaveLength(1)
    const [t] = after
    expect(t).toMatchObject({ id: sent.value.id, to: recipient.id, amount: 25, nonce: 1 })
    // After the restart the time is the transaction message's timestamp (signed when submitted).
    expect(Math.abs(t!.submittedAt - before[0]!.submittedAt)).toBeLessThan(1000)
    expect(t!.status.stage).toBe('sealed')
    expect(t!.status).toMatchObject({ height: (before[0]!.status as { height: number }).height })
    expect(second.wallet.available()).toBe(975)

    // The next transfer takes the next nonce, and both are listed.
    const next = await second.wallet.send(recipient.id, 5)
    if (!next.ok) throw new Error(JSON.stringify(next.error))
    expect(next.value.nonce).toBe(2)
    await until(() => allSealed(second.wallet) && second.wallet.transfers().length === 2, 'the second sealed')
    expect(second.wallet.balance()).toBe(970)
  }, 60_000)

  it('counts a transfer still on its way before the restart as in flight after it', async () => {
    const disk = new MemoryDisk()
    const first = await start(disk)
    // Stop the Messagenode at once: no block takes the transfer before the restart.
    await first.messagenode.stop()
    const sent = await first.wallet.send(recipient.id, 40)
    if (!sent.ok) throw new Error(JSON.stringify(sent.error))
    await first.stop()

    const second = await start(disk)
    expect(second.wallet.transfers().map((t) => [t.id, t.status.stage])).toEqual([
      [sent.value.id, 'submitted'],
    ])
    expect(second.wallet.available()).toBe(960)
    // A new transfer is numbered after the one in flight, and both seal.
    const next = await second.wallet.send(recipient.id, 1)
    if (!next.ok) throw new Error(JSON.stringify(next.error))
    expect(next.value.nonce).toBe(2)
    await until(() => allSealed(second.wallet) && second.wallet.transfers().length === 2, 'both sealed')
    expect(second.wallet.balance()).toBe(959)
  }, 60_000)
})
