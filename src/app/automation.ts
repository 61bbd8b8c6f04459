/**
 * `window.blockfin`: the automation API for developers who drive validators from headless
 * browsers (Playwright, Puppeteer). It reads the same state as the UI (the live validator and
 * the network session); docs/automation.md documents it.
 */
import type { FeedId } from '../core/identity/ids'
import type { Result } from '../core/result'
import type { ReplicationMetrics } from '../net/replication/metrics'
import type { BlockRecord } from '../runtime/block-index'
import type { RuntimeEvent } from '../runtime/consensus-runtime'
import type { JoinError } from '../runtime/join-client'
import type { SendError, SentTransfer } from '../runtime/wallet'
import type { LiveStatus, LiveValidator, MembershipView } from './live-validator'
import type { NetworkSession, NetworkView } from './network-session'

export interface BlockfinAutomation {
  /** Resolves once the identity, the feed store and the validator runtime are up. */
  readonly ready: Promise<void>
  identity(): FeedId
  /** Membership, validator set (n, f, q), heights per stage, balance. */
  status(): LiveStatus
  /** Signs a transfer from this identity and submits it to this tab's validator. */
  submitTransfer(to: string, amount: number): Promise<Result<SentTransfer, SendError>>
  /** Several transfers with consecutive nonces in one submission (scripts, load generators). */
  submitTransfers(
    transfers: readonly { to: string; amount: number }[],
  ): Promise<Result<SentTransfer[], SendError>>
  /** This identity's transfers (also those sent before a reload), with their stage (submitted, executed, sealed, failed). */
  transfers(): readonly SentTransfer[]
  /** Every account's executed balance. */
  balances(): Record<string, number>
  /** The feeds this tab holds: id and latest sequence. */
  feeds(): { id: FeedId; sequence: number }[]
  /** Connections: relay and validators, transport (webrtc, circuit, websockets). */
  peers(): NetworkView['connections']
  /** Replication counters: frames, bytes, messages received and stored, refusals by code, per peer. */
  replication(): ReplicationMetrics | undefined
  /** The latest blocks this tab saw (highest first, at most 100): stage, transactions, results, QCs. */
  blocks(limit?: number): BlockRecord[]
  /** Joins with an invite link. */
  join(link: string): Promise<Result<MembershipView, JoinError>>
  /** Consensus events as they happen (decided, executed, sealed, evidence, ...); returns unsubscribe. */
  onEvent(listener: (event: RuntimeEvent) => void): () => void
}

declare global {
  interface Window {
    blockfin?: BlockfinAutomation
  }
}

/**
 * Installs `window.blockfin`. `current` gives the live validator of the moment (it is replaced when
 * the identity is imported); `ready` resolves once there is a first one.
 */
export function installAutomation(parts: {
  readonly ready: Promise<void>
  readonly current: () => LiveValidator | undefined
  readonly network: () => NetworkSession | undefined
}): BlockfinAutomation {
  const live = (): LiveValidator => {
    const current = parts.current()
    if (!current) throw new Error('window.blockfin is not ready: await window.blockfin.ready first')
    return current
  }
  const api: BlockfinAutomation = {
    ready: parts.ready,
    identity: () => live().status().identity,
    status: () => live().status(),
    submitTransfer: (to, amount) => live().wallet.send(to, amount),
    submitTransfers: (transfers) => live().wallet.sendMany(transfers),
    transfers: () => live().wallet.transfers(),
    balances: () => Object.fromEntries(live().wallet.balances()),
    feeds: () =>
      [...live().runtime.store.vectorClock()].map(([id, head]) => ({ id, sequence: head.sequence })),
    peers: () => parts.network()?.view().connections ?? [],
    replication: () => parts.network()?.replication(),
    join: (link) => live().join(link),
    blocks: (limit = 20) => live().blocks.latest(limit),
    onEvent: (listener) => live().onEvent(listener),
  }
  window.blockfin = api
  return api
}
