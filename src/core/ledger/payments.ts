/**
 * The payments ledger, the first application module: accounts keyed by an Ed25519 id, each with a
 * balance and the nonce of its last executed transfer. A transfer is signed by its sender
 * (`from`) and executes when its nonce is the account's nonce + 1 and the balance covers it;
 * otherwise it is marked failed with a reason and the block goes on.
 */
import type { Ed25519Backend } from '../crypto/ed25519'
import { encodeCanonical } from '../feed/message'
import { type FeedId, isFeedId } from '../identity/ids'
import type { KeyPair } from '../identity/keys'
import { type Digest, merkleRootOfTexts } from '../merkle'
import { err, ok, type Result } from '../result'
import type { AppCheckError, AppModule, TxResult } from './module'
import { hasExactKeys, isPositiveSafeInteger, signItem } from './signed-item'

export interface Transfer {
  readonly type: 'transfer'
  readonly from: FeedId
  readonly to: FeedId
  readonly amount: number
  readonly nonce: number
  readonly signature: string
}

const TRANSFER_KEYS = ['type', 'from', 'to', 'amount', 'nonce', 'signature'] as const

export interface Account {
  readonly balance: number
  readonly nonce: number
}

export interface PaymentsState {
  readonly accounts: ReadonlyMap<FeedId, Account>
}

export interface PaymentsOptions {
  /** Genesis balances. Their sum must be a safe integer, so no balance can ever overflow. */
  readonly allocations: Readonly<Record<string, number>>
}

/** Signs a transfer as `keys` (the sender). */
export function createTransfer(
  input: { keys: KeyPair; to: FeedId; amount: number; nonce: number },
  networkKey: Uint8Array | null,
  ed25519: Ed25519Backend,
): Promise<Transfer> {
  const unsigned = {
    type: 'transfer' as const,
    from: input.keys.id,
    to: input.to,
    amount: input.amount,
    nonce: input.nonce,
  }
  return signItem(unsigned, input.keys, networkKey, ed25519)
}

/** Stateless check: exact keys in canonical order, ids, positive safe integers. */
export function checkTransfer(value: unknown): Result<Transfer, AppCheckError> {
  if (!hasExactKeys(value, TRANSFER_KEYS))
    return err({
      code: 'TX_MALFORMED',
      reason: `a transfer has exactly the keys ${TRANSFER_KEYS.join(', ')}`,
    })
  if (value.type !== 'transfer') return err({ code: 'TX_MALFORMED', reason: 'type is not transfer' })
  if (!isFeedId(value.from)) return err({ code: 'TX_MALFORMED', reason: 'from is not an ed25519 id' })
  if (!isFeedId(value.to)) return err({ code: 'TX_MALFORMED', reason: 'to is not an ed25519 id' })
  if (!isPositiveSafeInteger(value.amount))
    return err({ code: 'TX_MALFORMED', reason: 'amount is a positive safe integer' })
  if (!isPositiveSafeInteger(value.nonce))
    return err({ code: 'TX_MALFORMED', reason: 'nonce is a positive safe integer' })
  if (typeof value.signature !== 'string')
    return err({ code: 'TX_MALFORMED', reason: 'signature is a string' })
  return ok(value as unknown as Transfer)
}

const rootCache = new WeakMap<PaymentsState, Digest>()

export function createPaymentsLedger(options: PaymentsOptions): AppModule<PaymentsState, Transfer> {
  const genesisAccounts = new Map<FeedId, Account>()
  let supply = 0
  for (const [id, balance] of Object.entries(options.allocations).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!isFeedId(id)) throw new Error(`genesis allocation to a malformed id ${id}`)
    if (!Number.isSafeInteger(balance) || balance < 0) throw new Error(`genesis balance of ${id} is invalid`)
    supply += balance
    if (!Number.isSafeInteger(supply)) throw new Error('genesis supply exceeds the safe integer range')
    genesisAccounts.set(id, { balance, nonce: 0 })
  }

  return {
    name: 'payments',
    itemType: 'transfer',
    genesis: () => ({ accounts: new Map(genesisAccounts) }),
    check: checkTransfer,
    signerOf: (tx) => tx.from,

    executeBlock(state, txs) {
      const accounts = new Map(state.accounts)
      const results: TxResult[] = []
      for (const { id, tx } of txs) {
        const sender = accounts.get(tx.from) ?? { balance: 0, nonce: 0 }
        if (tx.nonce !== sender.nonce + 1) {
          results.push({
            id,
            ok: false,
            error: { code: 'BAD_NONCE', expected: sender.nonce + 1, got: tx.nonce },
          })
          continue
        }
        if (sender.balance < tx.amount) {
          results.push({
            id,
            ok: false,
            error: { code: 'INSUFFICIENT_BALANCE', balance: sender.balance, amount: tx.amount },
          })
          continue
        }
        accounts.set(tx.from, { balance: sender.balance - tx.amount, nonce: tx.nonce })
        const recipient = accounts.get(tx.to) ?? { balance: 0, nonce: 0 }
        accounts.set(tx.to, { balance: recipient.balance + tx.amount, nonce: recipient.nonce })
        results.push({ id, ok: true })
      }
      return { state: { accounts }, results }
    },

    stateRoot(state) {
      const cached = rootCache.get(state)
      if (cached) return cached
      const ids = [...state.accounts.keys()].sort()
      const root = merkleRootOfTexts(
        ids.map((id) => {
          const a = state.accounts.get(id)!
          return encodeCanonical([id, a.balance, a.nonce])
        }),
      )
      rootCache.set(state, root)
      return root
    },
  }
}
