/**
 * Membership as consensus items (seed 002): the validator and Messagenode sets start from the
 * genesis registry and change only through `member` items in committed blocks. An item in the
 * block of height S takes effect at height S + K, so every node knows the set of a height before
 * it votes or counts there (a node votes at most two heights above its last executed block; K >= 2).
 */
import { encodeCanonical } from '../feed/message'
import type { FeedId } from '../identity/ids'
import type { TxResult } from '../ledger/module'
import { type Digest, merkleRootOfTexts } from '../merkle'
import type { MemberItem } from './items'
import { faultTolerance, quorumSize } from './params'

/** What membership executes: an admin's item, or evidence against `culprit` (undefined: unreadable). */
export type MembershipItem =
  | { readonly kind: 'member'; readonly id: Digest; readonly tx: MemberItem }
  | { readonly kind: 'evidence'; readonly id: Digest; readonly culprit: FeedId | undefined }

export interface MemberSet {
  /** Sorted owner ids. */
  readonly validators: readonly FeedId[]
  readonly messagenodes: readonly FeedId[]
  readonly validatorSet: ReadonlySet<FeedId>
  readonly messagenodeSet: ReadonlySet<FeedId>
  readonly n: number
  readonly f: number
  readonly q: number
}

export function memberSet(validators: Iterable<FeedId>, messagenodes: Iterable<FeedId>): MemberSet {
  const v = [...new Set(validators)].sort()
  const m = [...new Set(messagenodes)].sort()
  return {
    validators: v,
    messagenodes: m,
    validatorSet: new Set(v),
    messagenodeSet: new Set(m),
    n: v.length,
    f: faultTolerance(v.length),
    q: quorumSize(v.length),
  }
}

export class Membership {
  /** Sets by the first height they apply to, ascending. */
  private readonly snapshots: { from: number; set: MemberSet }[]
  private readonly admins: ReadonlySet<FeedId>
  private readonly adminNonces = new Map<FeedId, number>()
  private executed = 0

  constructor(
    genesis: { validators: readonly FeedId[]; messagenodes: readonly FeedId[]; admins: readonly FeedId[] },
    private readonly delay: number,
  ) {
    this.snapshots = [{ from: 1, set: memberSet(genesis.validators, genesis.messagenodes) }]
    this.admins = new Set(genesis.admins)
  }

  /** The last height whose block has been executed here. */
  get executedHeight(): number {
    return this.executed
  }

  /** The set at `height`, or undefined while blocks it depends on (up to height - K) are not executed. */
  setAt(height: number): MemberSet | undefined {
    if (height < 1 || height > this.executed + this.delay) return undefined
    for (let i = this.snapshots.length - 1; i >= 0; i--) {
      const s = this.snapshots[i]!
      if (s.from <= height) return s.set
    }
    return undefined
  }

  /** The last nonce executed for `admin` (0 before its first item). */
  adminNonce(admin: FeedId): number {
    return this.adminNonces.get(admin) ?? 0
  }

  /** The set once every change executed so far has taken effect, and the height it applies from. */
  latest(): { readonly from: number; readonly set: MemberSet } {
    return this.snapshots[this.snapshots.length - 1]!
  }

  /** The set after every change executed so far takes effect. */
  private projected(): MemberSet {
    return this.snapshots[this.snapshots.length - 1]!.set
  }

  /**
   * Executes the membership items of the committed block of `height`, in block order: admin
   * items, and evidence (whose culprit leaves whichever set it is in).
   */
  execute(height: number, items: readonly MembershipItem[]): TxResult[] {
    if (height !== this.executed + 1)
      throw new Error(`membership executes ${this.executed + 1}, not ${height}`)
    const results: TxResult[] = []
    let validators = new Set(this.projected().validators)
    let messagenodes = new Set(this.projected().messagenodes)
    let changed = false
    for (const item of items) {
      const { id } = item
      if (item.kind === 'evidence') {
        const culprit = item.culprit
        const set =
          culprit && validators.has(culprit)
            ? validators
            : culprit && messagenodes.has(culprit)
              ? messagenodes
              : undefined
        if (!culprit || !set) {
          results.push({ id, ok: false, error: { code: 'NOT_A_MEMBER', owner: culprit ?? null } })
          continue
        }
        if (set.size <= 1) {
          results.push({ id, ok: false, error: { code: 'LAST_MEMBER', owner: culprit } })
          continue
        }
        const next = new Set(set)
        next.delete(culprit)
        if (set === validators) validators = next
        else messagenodes = next
        changed = true
        results.push({ id, ok: true })
        continue
      }
      const { tx } = item
      if (!this.admins.has(tx.admin)) {
        results.push({ id, ok: false, error: { code: 'NOT_AN_ADMIN', admin: tx.admin } })
        continue
      }
      const expected = (this.adminNonces.get(tx.admin) ?? 0) + 1
      if (tx.nonce !== expected) {
        results.push({ id, ok: false, error: { code: 'BAD_NONCE', expected, got: tx.nonce } })
        continue
      }
      const set = tx.kind === 'validator' ? validators : messagenodes
      if (tx.action === 'add' && set.has(tx.owner)) {
        results.push({ id, ok: false, error: { code: 'ALREADY_MEMBER', owner: tx.owner } })
        continue
      }
      if (tx.action === 'remove' && !set.has(tx.owner)) {
        results.push({ id, ok: false, error: { code: 'NOT_A_MEMBER', owner: tx.owner } })
        continue
      }
      if (tx.action === 'remove' && set.size <= 1) {
        results.push({ id, ok: false, error: { code: 'LAST_MEMBER', owner: tx.owner } })
        continue
      }
      this.adminNonces.set(tx.admin, expected)
      const next = new Set(set)
      if (tx.action === 'add') next.add(tx.owner)
      else next.delete(tx.owner)
      if (tx.kind === 'validator') validators = next
      else messagenodes = next
      changed = true
      results.push({ id, ok: true })
    }
    this.executed = height
    if (changed) this.snapshots.push({ from: height + this.delay, set: memberSet(validators, messagenodes) })
    return results
  }

  /** A digest of everything membership state holds: the sets now and pending, and admin nonces. */
  root(): Digest {
    const live = this.snapshots.filter((s, i) => s.from > this.executed || i === this.latestApplied())
    return merkleRootOfTexts([
      ...live.map((s) =>
        encodeCanonical({ from: s.from, validators: s.set.validators, messagenodes: s.set.messagenodes }),
      ),
      encodeCanonical([...this.adminNonces].sort(([a], [b]) => (a < b ? -1 : 1))),
    ])
  }

  private latestApplied(): number {
    let at = 0
    this.snapshots.forEach((s, i) => {
      if (s.from <= this.executed + 1) at = i
    })
    return at
  }
}
