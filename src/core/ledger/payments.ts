/**
 * The payments ledger, the first application module: accounts keyed by an Ed25519 id, each with a
 * balance and the nonce of its last executed transfer. A transfer is signed by its sender
 * (`from`) and executes when its nonce is the account's nonce + 1 and the balance covers it;
 * otherwise it is marked failed with a reason and the block goes on.
 */
import type { Ed25519Backend } from '../crypto/ed25519'
import type { Sha256 } from '../crypto/hash'
import { encodeCanonical } from '../feed/message'
import { type FeedId, isFeedId } from '../identity/ids'
import type { KeyPair } from '../identity/keys'
import { type Digest, MerkleTextTree } from '../merkle'
import { err, ok, type Result } from '../result'
import type { AppCheckError, AppModule, TxResult } from './module'
import { hasExactKeys, isPositiveSafeInteger, type SignedBytesOf, signItem } from './signed-item'

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
  /** The platform's sha256 for the state root (default: noble's; all give the same root). */
  readonly sha256?: Sha256
}

/** Signs a transfer as `keys` (the sender). */
export function createTransfer(
  input: { keys: KeyPair; to: FeedId; amount: number; nonce: number },
  networkKey: Uint8Array | null,
  ed25519: Ed25519Backend,
  /** The network HMAC from a native library (signItem). */
  bytesOf?: SignedBytesOf,
): Promise<Transfer> {
  const unsigned = {
    type: 'transfer' as const,
    from: input.keys.id,
    to: input.to,
    amount: input.amount,
    nonce: input.nonce,
  }
  return signItem(unsigned, input.keys, networkKey, ed25519, bytesOf)
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

/** The leaf of an account in the state root. */
const accountLeaf = (id: FeedId, a: Account): string => encodeCanonical([id, a.balance, a.nonce])

/**
 * The state root: a Merkle tree over every account, sorted by id. A block changes a few accounts,
 * so a tree is kept and only the leaves of accounts that differ from the ones it last hashed are
 * rehashed; a new account changes the order and rebuilds it. The root depends only on the state
 * given, whichever state the tree last saw: the tree is a cache, handed from a state to the state
 * its block produces (so each node of a shared ledger instance keeps its own).
 */
function createStateTree(sha256: Sha256 | undefined) {
  let ids: FeedId[] = []
  let index = new Map<FeedId, number>()
  let accounts: Account[] = []
  let merkle = new MerkleTextTree([], sha256)
  const rebuild = (state: PaymentsState) => {
    ids = [...state.accounts.keys()].sort()
    index = new Map(ids.map((id, i) => [id, i]))
    accounts = ids.map((id) => state.accounts.get(id)!)
    merkle = new MerkleTextTree(
      ids.map((id, i) => accountLeaf(id, accounts[i]!)),
      sha256,
    )
  }
  return {
    rootOf(state: PaymentsState): Digest {
      if (state.accounts.size !== ids.length) rebuild(state)
      else
        for (const [id, account] of state.accounts) {
          const i = index.get(id)
          if (i === undefined) {
            rebuild(state)
            break
          }
          const had = accounts[i]!
          if (had === account) continue
          accounts[i] = account
          if (had.balance !== account.balance || had.nonce !== account.nonce)
            merkle.update(i, accountLeaf(id, account))
        }
      return merkle.root()
    },
  }
}

type StateTree = ReturnType<typeof createStateTree>

export function createPaymentsLedger(options: PaymentsOptions): AppModule<PaymentsState, Transfer> {
  const trees = new WeakMap<PaymentsState, StateTree>()
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
      const next: PaymentsState = { accounts }
      const tree = trees.get(state)
      if (tree) {
        trees.delete(state)
        trees.set(next, tree)
      }
      return { state: next, results }
    },

    stateRoot(state) {
      const cached = rootCache.get(state)
      if (cached) return cached
      const tree = trees.get(state) ?? createStateTree(options.sha256)
      trees.set(state, tree)
      const root = tree.rootOf(state)
      rootCache.set(state, root)
      return root
    },
  }
}
