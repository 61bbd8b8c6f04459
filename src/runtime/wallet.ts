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
  transfers(): readonly SentTransfer[]
  /** Called on every change of a transfer's status. */
  subscribe(listener: (t: SentTransfer) => void): () => void
}

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

  return {
    owner: keys.id,
    balance: () => account().balance,
    available: () => account().balance - inFlight().reduce((sum, t) => sum + t.amount, 0),
    balances: () => new Map([...ledger()].map(([id, a]) => [id, a.balance])),
    async send(to, amount) {
      if (!isFeedId(to)) return err({ code: 'RECIPIENT_INVALID', recipient: to })
      if (!Number.isSafeInteger(amount) || amount <= 0) return err({ code: 'AMOUNT_INVALID', amount })
      const available = this.available()
      if (amount > available) return err({ code: 'INSUFFICIENT_BALANCE', available, amount })
      const nonce = Math.max(lastNonce, account().nonce) + 1
      const item = await createTransfer({ keys, to, amount, nonce }, networkKey, deps.ed25519)
      const id = itemId(item)
      const outcome = await runtime.submit([item])
      if (!outcome.accepted.includes(id))
        return err({
          code: 'SUBMIT_REFUSED',
          reason: outcome.rejected.map((r) => ('reason' in r ? r.reason : r.code)).join('; ') || 'refused',
        })
      lastNonce = nonce
      const now = deps.now()
      const transfer: SentTransfer = {
        id,
        to,
        amount,
        nonce,
        submittedAt: now,
        status: { stage: 'submitted', at: now },
      }
      sent.set(id, transfer)
      for (const l of listeners) l(transfer)
      return ok(transfer)
    },
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
