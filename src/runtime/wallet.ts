/**
 * A wallet over a validator runtime: the owner's balance in the payments ledger, and transfers
 * signed with the owner's key, submitted to that validator (clients submit to validators, seed 000)
 * and followed to sealed or failed. Used by the tab's wallet, the headless validator and tests.
 *
 * History: the wallet also reads what the runtime hands its core, so a wallet created in
 * ConsensusRuntime.start's `attach` hook (before the replay) rebuilds the transfers sent before a
 * restart: the owner's transfers in the owner's transaction feed (as submitted), those in other
 * validators' feeds once a block executed them (so a forged item someone put in their feed never
 * shows), and their results from the 'executed' events; executed at or below a sealed height is
 * sealed. A wallet created after the start follows only what comes from then on.
 *
 * Nonces: the ledger executes a sender's transfers in nonce order, so the wallet numbers new ones
 * after both the executed nonce and the ones it has in flight; a failed transfer resets the count to
 * what the ledger executed (the later ones in flight fail with BAD_NONCE and are reported as such).
 */

import { txItemsOf } from '../core/consensus/items'
import type { Ed25519Backend } from '../core/crypto/ed25519'
import type { VerifiedMessage } from '../core/feed/message'
import { type FeedId, isFeedId } from '../core/identity/ids'
import type { KeyPair } from '../core/identity/keys'
import { deriveRoleKeys } from '../core/identity/roles'
import type { TxResult } from '../core/ledger/module'
import { checkTransfer, createTransfer, type PaymentsState, type Transfer } from '../core/ledger/payments'
import { itemId, type SignedBytesOf, type SignedItem } from '../core/ledger/signed-item'
import type { Digest } from '../core/merkle'
import { err, ok, type Result } from '../core/result'
import type { ConsensusRuntime, RuntimeEvent } from './consensus-runtime'

export type TransferStatus =
  | { readonly stage: 'submitted'; readonly at: number }
  | { readonly stage: 'executed'; readonly height: number; readonly at: number }
  | { readonly stage: 'sealed'; readonly height: number; readonly at: number }
  | {
      readonly stage: 'failed'
      readonly height: number
      readonly code: string
      readonly reason: string
      readonly at: number
    }

export interface SentTransfer {
  readonly id: Digest
  readonly to: FeedId
  readonly amount: number
  readonly nonce: number
  readonly submittedAt: number
  readonly status: TransferStatus
}

export type SendError =
  | { readonly code: 'RECIPIENT_INVALID'; readonly recipient: string }
  | { readonly code: 'AMOUNT_INVALID'; readonly amount: unknown }
  | { readonly code: 'INSUFFICIENT_BALANCE'; readonly available: number; readonly amount: number }
  | { readonly code: 'SUBMIT_REFUSED'; readonly reason: string }

export interface Wallet {
  readonly owner: FeedId
  /** Executed balance (what the ledger holds now). */
  balance(): number
  /** Balance minus transfers in flight. */
  available(): number
  balances(): ReadonlyMap<FeedId, number>
  send(to: string, amount: number): Promise<Result<SentTransfer, SendError>>
  /**
   * Several transfers signed with consecutive nonces and submitted in one batch (one transaction
   * message per 16): for scripts and benchmarks. All are checked first; none is sent if one is bad.
   */
  sendMany(transfers: readonly { to: string; amount: number }[]): Promise<Result<SentTransfer[], SendError>>
  /**
   * The owner's transfers, oldest first: those sent through this wallet and, when the wallet was
   * attached before the runtime's replay, those found in the feeds it replayed (sent before a
   * restart, or from another device with the same identity).
   */
  transfers(): readonly SentTransfer[]
  /** Called on every change of a transfer's status. */
  subscribe(listener: (t: SentTransfer) => void): () => void
}

/** Transfers kept in `transfers()` (settled ones beyond this are forgotten, oldest first). */
export const MAX_HISTORY = 5000

export function createWallet(
  options: { readonly keys: KeyPair; readonly networkKey: Uint8Array },
  deps: {
    readonly runtime: ConsensusRuntime
    readonly ed25519: Ed25519Backend
    readonly now: () => number
    /** The network HMAC of `options.networkKey` from a native library, for signing transfers. */
    readonly signedBytesOf?: SignedBytesOf
  },
): Wallet {
  const { keys, networkKey } = options
  const { runtime } = deps
  const sent = new Map<Digest, SentTransfer>()
  const listeners = new Set<(t: SentTransfer) => void>()
  let lastNonce = 0
  const ledger = () => (runtime.view.appState as PaymentsState).accounts
  const account = () => ledger().get(keys.id) ?? { balance: 0, nonce: 0 }
  const update = (t: SentTransfer, status: TransferStatus) => {
    const next = { ...t, status }
    sent.set(t.id, next)
    for (const l of listeners) l(next)
    if (status.stage === 'sealed' || status.stage === 'failed') forgetOldSettled()
  }
  // The history is bounded: the oldest settled transfers are forgotten first.
  const forgetOldSettled = () => {
    if (sent.size <= MAX_HISTORY) return
    for (const [id, t] of sent) {
      if (sent.size <= MAX_HISTORY) break
      if (t.status.stage === 'sealed' || t.status.stage === 'failed') sent.delete(id)
    }
  }
  const inFlight = () => [...sent.values()].filter((t) => t.status.stage === 'submitted')

  /** The owner's transaction feed: what it holds was submitted by this owner's validator. */
  const ownTxFeed = runtime.owner === keys.id ? deriveRoleKeys(keys, 'transaction-validator').id : undefined
  /** The owner's transfers seen in other feeds, shown once a block executed them. */
  const elsewhere = new Map<Digest, SentTransfer>()
  /**
   * Results emitted since the last message: a replayed message's events come before the runtime
   * hands the message on (a live one's after), so an item can meet a result of its own message.
   */
  let recent = new Map<Digest, { height: number; result: TxResult; at: number }>()
  let sealedTop = 0

  const applyResult = (t: SentTransfer, height: number, r: TxResult, at: number) => {
    if (r.ok)
      update(t, height <= sealedTop ? { stage: 'sealed', height, at } : { stage: 'executed', height, at })
    else {
      update(t, { stage: 'failed', height, code: r.error.code, reason: describeFailure(r.error), at })
      lastNonce = account().nonce
    }
  }

  const seeItem = (transfer: Transfer, id: Digest, message: VerifiedMessage) => {
    if (sent.has(id)) return
    const t: SentTransfer = {
      id,
      to: transfer.to,
      amount: transfer.amount,
      nonce: transfer.nonce,
      submittedAt: message.value.timestamp,
      status: { stage: 'submitted', at: message.value.timestamp },
    }
    const result = recent.get(id)
    if (message.value.author !== ownTxFeed) {
      if (!result) {
        if (elsewhere.size >= MAX_HISTORY) elsewhere.delete(elsewhere.keys().next().value!)
        elsewhere.set(id, t)
        return
      }
    } else lastNonce = Math.max(lastNonce, transfer.nonce)
    sent.set(id, t)
    if (result) applyResult(t, result.height, result.result, result.at)
    else for (const l of listeners) l(t)
    forgetOldSettled()
  }

  runtime.onMessage((message) => {
    const items = txItemsOf(message.value.content)
    if (items)
      for (const value of items) {
        if ((value as { from?: unknown } | null)?.from !== keys.id) continue
        const transfer = checkTransfer(value)
        if (transfer.ok) seeItem(transfer.value, itemId(value as SignedItem), message)
      }
    if (recent.size > 0) recent = new Map()
  })

  runtime.onEvent((e: RuntimeEvent) => {
    if (e.type === 'executed') {
      for (const r of e.results) {
        let t = sent.get(r.id)
        if (!t) {
          t = elsewhere.get(r.id)
          if (t) {
            elsewhere.delete(r.id)
            sent.set(r.id, t)
          } else {
            recent.set(r.id, { height: e.height, result: r, at: e.at })
            continue
          }
        }
        applyResult(t, e.height, r, e.at)
      }
    } else if (e.type === 'sealed') {
      sealedTop = Math.max(sealedTop, e.height)
      for (const t of sent.values())
        if (t.status.stage === 'executed' && t.status.height <= e.height)
          update(t, { stage: 'sealed', height: t.status.height, at: e.at })
    }
  })

  const available = () => account().balance - inFlight().reduce((sum, t) => sum + t.amount, 0)

  const sendBatch = async (
    transfers: readonly { to: string; amount: number }[],
  ): Promise<Result<SentTransfer[], SendError>> => {
    let total = 0
    for (const { to, amount } of transfers) {
      if (!isFeedId(to)) return err({ code: 'RECIPIENT_INVALID', recipient: to })
      if (!Number.isSafeInteger(amount) || amount <= 0) return err({ code: 'AMOUNT_INVALID', amount })
      total += amount
    }
    const free = available()
    if (total > free) return err({ code: 'INSUFFICIENT_BALANCE', available: free, amount: total })
    const first = Math.max(lastNonce, account().nonce) + 1
    const items = await Promise.all(
      transfers.map(({ to, amount }, i) =>
        createTransfer(
          { keys, to: to as FeedId, amount, nonce: first + i },
          networkKey,
          deps.ed25519,
          deps.signedBytesOf,
        ),
      ),
    )
    const outcome = await runtime.submit(items)
    const accepted = new Set(outcome.accepted)
    if (items.some((item) => !accepted.has(itemId(item))))
      return err({
        code: 'SUBMIT_REFUSED',
        reason: outcome.rejected.map((r) => ('reason' in r ? r.reason : r.code)).join('; ') || 'refused',
      })
    lastNonce = first + items.length - 1
    const now = deps.now()
    const out = items.map((item, i): SentTransfer => {
      const t: SentTransfer = {
        id: itemId(item),
        to: transfers[i]!.to as FeedId,
        amount: transfers[i]!.amount,
        nonce: first + i,
        submittedAt: now,
        status: { stage: 'submitted', at: now },
      }
      // The runtime may have handed the transaction message on already (the same transfer).
      const seen = sent.get(t.id)
      if (seen) return seen
      sent.set(t.id, t)
      for (const l of listeners) l(t)
      return t
    })
    return ok(out)
  }

  return {
    owner: keys.id,
    balance: () => account().balance,
    available,
    balances: () => new Map([...ledger()].map(([id, a]) => [id, a.balance])),
    async send(to, amount) {
      const sentOne = await sendBatch([{ to, amount }])
      return sentOne.ok ? ok(sentOne.value[0]!) : sentOne
    },
    sendMany: (transfers) => sendBatch(transfers),
    transfers: () => [...sent.values()],
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

function describeFailure(error: { readonly code: string } & Record<string, unknown>): string {
  switch (error.code) {
    case 'INSUFFICIENT_BALANCE':
      return `the balance (${error.balance}) was below the amount (${error.amount}) when the block executed`
    case 'BAD_NONCE':
      return `out of order: the ledger expected nonce ${error.expected}, this transfer has ${error.got}`
    default:
      return error.code
  }
}
