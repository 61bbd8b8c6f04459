/**
 * A wallet over a validator runtime: the owner's balance in the payments ledger, and transfers
 * signed with the owner's key, submitted to that validator (clients submit to validators, seed 000)
 * and followed to sealed or failed. Used by the tab's wallet, the headless validator and tests.
 *
 * Nonces: the ledger executes a sender's transfers in nonce order, so the wallet numbers new ones
 * after both the executed nonce and the ones it has in flight; a failed transfer resets the count to
 * what the ledger executed (the later ones in flight fail with BAD_NONCE and are reported as such).
 */

import type { Ed25519Backend } from '../core/crypto/ed25519'
import { type FeedId, isFeedId } from '../core/identity/ids'
import type { KeyPair } from '../core/identity/keys'
import { createTransfer, type PaymentsState } from '../core/ledger/payments'
import { itemId } from '../core/ledger/signed-item'
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
  transfers(): readonly SentTransfer[]
  /** Called on every change of a transfer's status. */
  subscribe(listener: (t: SentTransfer) => void): () => void
}

/** Transfers kept in `transfers()` (settled ones beyond this are forgotten, oldest first). */
export const MAX_HISTORY = 5000

export function createWallet(
  options: { readonly keys: KeyPair; readonly networkKey: Uint8Array },
  deps: { readonly runtime: ConsensusRuntime; readonly ed25519: Ed25519Backend; readonly now: () => number },
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

  runtime.onEvent((e: RuntimeEvent) => {
    if (e.type === 'executed') {
      for (const r of e.results) {
        const t = sent.get(r.id)
        if (!t) continue
        if (r.ok) update(t, { stage: 'executed', height: e.height, at: e.at })
        else {
          update(t, {
            stage: 'failed',
            height: e.height,
            code: r.error.code,
            reason: describeFailure(r.error),
            at: e.at,
          })
          lastNonce = account().nonce
        }
      }
    } else if (e.type === 'sealed') {
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
        createTransfer({ keys, to: to as FeedId, amount, nonce: first + i }, networkKey, deps.ed25519),
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
      sent.set(t.id, t)
      return t
    })
    for (const t of out) for (const l of listeners) l(t)
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
