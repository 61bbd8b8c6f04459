/**
 * Pacing of transaction messages (ConsensusRuntime, `txIntervalMs`): single submissions that keep
 * coming within the interval wait and go out as one message; a message's worth of items goes at
 * once; nothing is answered before it is durable, and stopping answers what waits. The runtime's
 * clock is a fake one here, so the test drives time instead of measuring it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { CONTENT, type ConsensusGenesis, txItemsOf } from '../../src/core/consensus'
import { decodeMessage } from '../../src/core/feed/decode'
import { deriveRoleKeys } from '../../src/core/identity/roles'
import { createPaymentsLedger, createTransfer, type Transfer } from '../../src/core/ledger/payments'
import {
  ConsensusRuntime,
  DEFAULT_TX_INTERVAL_MS,
  type SubmitOutcome,
} from '../../src/runtime/consensus-runtime'
import { txGroupDelay } from '../../src/runtime/tx-pacing'
import { FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter } from '../../src/store/memory-adapter'
import { FakeClock } from '../net/fake-clock'
import { ed25519, keys, NETWORK_ID, NETWORK_KEY, runtimeOptions, TEST_PARAMS } from './consensus-harness'

const owner = keys(31)
const sender = keys(32)
const genesis: ConsensusGenesis = {
  networkId: NETWORK_ID,
  validators: [owner.id],
  messagenodes: [keys(33).id],
  admins: [],
  params: TEST_PARAMS,
}

/** Lets pending promise chains and store commits (memory adapter) finish. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

const running: ConsensusRuntime[] = []
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop()
})

async function setUp(txIntervalMs?: number) {
  const clock = new FakeClock()
  const store = await FeedStore.open({ networkKey: NETWORK_KEY }, { adapter: createMemoryAdapter(), ed25519 })
  const runtime = await ConsensusRuntime.start(
    {
      ...runtimeOptions('validator', owner, genesis),
      ...(txIntervalMs === undefined ? {} : { txIntervalMs }),
    },
    { store, ed25519, app: createPaymentsLedger({ allocations: { [sender.id]: 1000 } }), clock },
  )
  running.push(runtime)
  const txFeed = deriveRoleKeys(owner, 'transaction-validator').id
  let nonce = 0
  const transfers = (count: number): Promise<Transfer[]> =>
    Promise.all(
      Array.from({ length: count }, () =>
        createTransfer({ keys: sender, to: owner.id, amount: 1, nonce: ++nonce }, NETWORK_KEY, ed25519),
      ),
    )
  /** Items per transaction message, in feed order. */
  const txMessages = async (): Promise<number[]> =>
    (await store.range(txFeed, 1)).flatMap((text) => {
      const d = decodeMessage(text, NETWORK_KEY)
      if (!d.ok || d.value.value.content.type !== CONTENT.tx) return []
      return [txItemsOf(d.value.value.content)!.length]
    })
  /** Submits and records when the answer came. */
  const submit = (items: Transfer[]) => {
    const answer: { outcome?: SubmitOutcome } = {}
    const done = runtime.submit(items).then((outcome) => {
      answer.outcome = outcome
      return outcome
    })
    return { answer, done }
  }
  return { clock, runtime, transfers, txMessages, submit }
}

describe('pacing of transaction messages', () => {
  it('holds single submissions that keep coming for one message, then answers each once durable', async () => {
    const { clock, transfers, txMessages, submit } = await setUp()
    const [first, ...rest] = await transfers(11)
    // The first goes at once: nothing was published within the interval.
    expect((await submit([first!]).done).accepted).toHaveLength(1)
    expect(await txMessages()).toEqual([1])
    const waiting = rest.map((t) => submit([t]))
    await settle()
    expect(waiting.every((w) => w.answer.outcome === undefined)).toBe(true)
    expect(await txMessages()).toEqual([1])
    clock.advance(DEFAULT_TX_INTERVAL_MS)
    const outcomes = await Promise.all(waiting.map((w) => w.done))
    for (const o of outcomes) expect(o).toEqual({ accepted: [expect.any(String)], rejected: [] })
    // Ten submissions, one message, and every answered item is in it.
    expect(await txMessages()).toEqual([1, 10])
  })

  it('sends a full message at once, without waiting for the interval', async () => {
    const { transfers, txMessages, submit } = await setUp()
    const items = await transfers(1 + TEST_PARAMS.maxTxsPerMessage)
    await submit(items.slice(0, 1)).done
    const full = await submit(items.slice(1)).done
    expect(full.accepted).toHaveLength(TEST_PARAMS.maxTxsPerMessage)
    expect(await txMessages()).toEqual([1, TEST_PARAMS.maxTxsPerMessage])
  })

  it('with an interval of 0, every group goes at once', async () => {
    const { transfers, txMessages, submit } = await setUp(0)
    for (const t of await transfers(3)) await submit([t]).done
    expect(await txMessages()).toEqual([1, 1, 1])
  })

  it('answers submissions held back when the runtime stops, and stores none of them', async () => {
    const { runtime, transfers, txMessages, submit } = await setUp()
    const [first, second] = await transfers(2)
    await submit([first!]).done
    const held = submit([second!])
    await settle()
    expect(held.answer.outcome).toBeUndefined()
    await runtime.stop()
    expect(await held.done).toEqual({ accepted: [], rejected: [{ code: 'RUNTIME_STOPPED' }] })
    expect(await txMessages()).toEqual([1])
  })
})

describe('txGroupDelay (the rule the runtime and the simulator share)', () => {
  const pacing = { intervalMs: 100, maxTxsPerMessage: 16 }
  it('holds a group until the interval since the last one has passed', () => {
    expect(txGroupDelay(pacing, { lastGroupAt: 1000, waitingItems: 1 }, 1030)).toBe(70)
    expect(txGroupDelay(pacing, { lastGroupAt: 1000, waitingItems: 15 }, 1100)).toBe(0)
  })
  it('never holds a first group, a full message, or anything with an interval of 0', () => {
    expect(txGroupDelay(pacing, { lastGroupAt: Number.NEGATIVE_INFINITY, waitingItems: 1 }, 5)).toBe(0)
    expect(txGroupDelay(pacing, { lastGroupAt: 1000, waitingItems: 16 }, 1001)).toBe(0)
    expect(txGroupDelay({ ...pacing, intervalMs: 0 }, { lastGroupAt: 1000, waitingItems: 1 }, 1001)).toBe(0)
  })
})
