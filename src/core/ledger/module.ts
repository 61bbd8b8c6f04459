/**
 * The application-module interface. A module owns one item type carried in transaction feeds; the
 * consensus core orders items, checks their signatures (in batch, through the Ed25519 backend)
 * and hands each committed block's items to `executeBlock` in canonical order. Everything here is
 * deterministic: the same state and the same items give the same results and the same root on
 * every validator, which is what the seal stage certifies.
 */
import type { FeedId } from '../identity/ids'
import type { Digest } from '../merkle'
import type { Result } from '../result'

export type AppCheckError = { code: 'TX_MALFORMED'; reason: string }

/** One item's outcome. A failed item is part of the block with its reason; it never breaks the block. */
export type TxResult =
  | { readonly id: Digest; readonly ok: true }
  | {
      readonly id: Digest
      readonly ok: false
      readonly error: { readonly code: string } & Record<string, unknown>
    }

export interface AppModule<State, Tx> {
  readonly name: string
  /** The `type` of the items this module executes. */
  readonly itemType: string
  genesis(): State
  /** Stateless checks (shape, ranges); the signature is checked separately, in batch. */
  check(item: unknown): Result<Tx, AppCheckError>
  /** Whose key must have signed the item (its signature is checked by the consensus, in batch). */
  signerOf(tx: Tx): FeedId
  /** Deterministic: never throws for bad items, marks them failed. Does not mutate `state`. */
  executeBlock(state: State, txs: readonly { id: Digest; tx: Tx }[]): { state: State; results: TxResult[] }
  stateRoot(state: State): Digest
}
