/**
 * Items of transaction feeds: a `blockfin/tx` message carries several signed items (batching: one
 * feed signature for many items, without weakening anything, since each item keeps its own
 * signature). Items are payments transfers (executed by the application module) or membership
 * items (executed by the consensus itself). `verifyTransactions` is the one async step: the runtime
 * runs it on every transaction-feed message it stores and hands the results to the core.
 */
import type { Ed25519Backend, VerifyRequest } from '../crypto/ed25519'
import { encodeCanonical, MAX_MESSAGE_LENGTH, type MessageContent } from '../feed/message'
import { type FeedId, isFeedId } from '../identity/ids'
import type { KeyPair } from '../identity/keys'
import type { AppCheckError, AppModule } from '../ledger/module'
import {
  hasExactKeys,
  isPositiveSafeInteger,
  itemId,
  itemVerifyRequest,
  type SignedItem,
  signItem,
} from '../ledger/signed-item'
import type { Digest } from '../merkle'
import { err, ok, type Result } from '../result'
import { CONTENT } from './content'

/** Adds or removes a validator or a Messagenode; signed by a registered admin, with the admin's nonce. */
export interface MemberItem {
  readonly type: 'member'
  readonly action: 'add' | 'remove'
  readonly kind: 'validator' | 'messagenode'
  readonly owner: FeedId
  readonly admin: FeedId
  readonly nonce: number
  readonly signature: string
}

const MEMBER_KEYS = ['type', 'action', 'kind', 'owner', 'admin', 'nonce', 'signature'] as const

export function createMemberItem(
  input: {
    admin: KeyPair
    action: 'add' | 'remove'
    kind: 'validator' | 'messagenode'
    owner: FeedId
    nonce: number
  },
  networkKey: Uint8Array | null,
  ed25519: Ed25519Backend,
): Promise<MemberItem> {
  return signItem(
    {
      type: 'member' as const,
      action: input.action,
      kind: input.kind,
      owner: input.owner,
      admin: input.admin.id,
      nonce: input.nonce,
    },
    input.admin,
    networkKey,
    ed25519,
  )
}

export function checkMemberItem(value: unknown): Result<MemberItem, AppCheckError> {
  if (!hasExactKeys(value, MEMBER_KEYS))
    return err({
      code: 'TX_MALFORMED',
      reason: `a member item has exactly the keys ${MEMBER_KEYS.join(', ')}`,
    })
  if (value.type !== 'member') return err({ code: 'TX_MALFORMED', reason: 'type is not member' })
  if (value.action !== 'add' && value.action !== 'remove')
    return err({ code: 'TX_MALFORMED', reason: 'action is add or remove' })
  if (value.kind !== 'validator' && value.kind !== 'messagenode')
    return err({ code: 'TX_MALFORMED', reason: 'kind is validator or messagenode' })
  if (!isFeedId(value.owner) || !isFeedId(value.admin))
    return err({ code: 'TX_MALFORMED', reason: 'owner and admin are ed25519 ids' })
  if (!isPositiveSafeInteger(value.nonce))
    return err({ code: 'TX_MALFORMED', reason: 'nonce is a positive integer' })
  if (typeof value.signature !== 'string')
    return err({ code: 'TX_MALFORMED', reason: 'signature is a string' })
  return ok(value as unknown as MemberItem)
}

/** A decoded item: either the application's or a membership item. */
export type TxItem<T> =
  | { readonly kind: 'app'; readonly id: Digest; readonly tx: T }
  | { readonly kind: 'member'; readonly id: Digest; readonly tx: MemberItem }

export function decodeItem<T>(app: AppModule<unknown, T>, value: unknown): Result<TxItem<T>, AppCheckError> {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined
  if (type === 'member') {
    const m = checkMemberItem(value)
    return m.ok ? ok({ kind: 'member', id: itemId(m.value), tx: m.value }) : m
  }
  if (type === app.itemType) {
    const t = app.check(value)
    return t.ok ? ok({ kind: 'app', id: itemId(value as SignedItem), tx: t.value }) : t
  }
  return err({ code: 'TX_MALFORMED', reason: `unknown item type ${String(type)}` })
}

export function itemSignatureRequest<T>(
  app: AppModule<unknown, T>,
  item: TxItem<T>,
  networkKey: Uint8Array | null,
): VerifyRequest | undefined {
  return item.kind === 'member'
    ? itemVerifyRequest(item.tx, item.tx.admin, networkKey)
    : app.verifyRequest(item.tx, networkKey)
}

/** The items of a `blockfin/tx` content, or undefined when the content is not one. */
export function txItemsOf(content: MessageContent): readonly unknown[] | undefined {
  if (content.type !== CONTENT.tx) return undefined
  const keys = Object.keys(content)
  if (keys.length !== 2 || keys[1] !== 'txs' || !Array.isArray(content.txs)) return undefined
  return content.txs
}

/**
 * One boolean per item of a transaction-feed message: well-formed and validly signed by its
 * signer. All signatures go to the backend in one batch. Pure apart from the backend.
 */
export async function verifyTransactions<T>(
  app: AppModule<unknown, T>,
  items: readonly unknown[],
  networkKey: Uint8Array | null,
  ed25519: Ed25519Backend,
): Promise<boolean[]> {
  const requests: VerifyRequest[] = []
  const at: number[] = []
  const result = items.map(() => false)
  items.forEach((value, i) => {
    const d = decodeItem(app, value)
    if (!d.ok) return
    const r = itemSignatureRequest(app, d.value, networkKey)
    if (!r) return
    requests.push(r)
    at.push(i)
  })
  const valid = await ed25519.verifyBatch(requests)
  valid.forEach((v, j) => {
    result[at[j]!] = v
  })
  return result
}

/** The envelope a feed adds around content, generously counted, so a packed message stays under the limit. */
const ENVELOPE_ALLOWANCE = 700

/**
 * Packs items into as few `blockfin/tx` contents as fit: at most `maxPerMessage` items each and
 * under the message size limit once signed. An item too big for a message on its own is returned
 * in `tooLarge`.
 */
export function packTxContents(
  items: readonly SignedItem[],
  maxPerMessage: number,
): { contents: MessageContent[]; tooLarge: SignedItem[] } {
  const contents: MessageContent[] = []
  const tooLarge: SignedItem[] = []
  let current: SignedItem[] = []
  const fits = (batch: SignedItem[]) =>
    encodeCanonical({ content: { type: CONTENT.tx, txs: batch } }).length + ENVELOPE_ALLOWANCE <=
    MAX_MESSAGE_LENGTH
  const flush = () => {
    if (current.length > 0) contents.push({ type: CONTENT.tx, txs: current as unknown as MessageContent[] })
    current = []
  }
  for (const item of items) {
    if (!fits([item])) {
      tooLarge.push(item)
      continue
    }
    if (current.length >= maxPerMessage || !fits([...current, item])) flush()
    current.push(item)
  }
  flush()
  return { contents, tooLarge }
}
