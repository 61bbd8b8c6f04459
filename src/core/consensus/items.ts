/**
 * Items of transaction feeds: a `blockfin/tx` message carries several signed items (batching: one
 * feed signature for many items, without weakening anything, since each item keeps its own
 * signature). Items are payments transfers (executed by the application module) or membership
 * items (executed by the consensus itself). `verifyTransactions` is the one async step: the runtime
 * runs it on every transaction-feed message it stores and hands the results to the core.
 */
import type { Ed25519Backend, VerifyRequest } from '../crypto/ed25519'
import type { Sha256 } from '../crypto/hash'
import { decodeMessage } from '../feed/decode'
import { encodeCanonical, MAX_MESSAGE_LENGTH, type MessageContent } from '../feed/message'
import { type FeedId, isFeedId } from '../identity/ids'
import type { KeyPair } from '../identity/keys'
import { checkRoleCertificate } from '../identity/roles'
import type { AppCheckError, AppModule } from '../ledger/module'
import {
  defaultSignedBytes,
  hasExactKeys,
  isPositiveSafeInteger,
  itemId,
  itemIdAndText,
  itemVerifyRequest,
  type SignedBytesOf,
  type SignedItem,
  signItem,
} from '../ledger/signed-item'
import type { Digest } from '../merkle'
import { err, ok, type Result } from '../result'
import { CONTENT, parseRoleOwner } from './content'
import { type ConsensusEvidence, verifyEvidence } from './evidence'

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

/**
 * Evidence as a consensus item: a validator that holds evidence against a member puts it in its
 * transaction feed; once committed at height S, the culprit leaves the set at S + K. Exclusion has
 * to go through consensus: a node that stopped counting a culprit's votes on its own, as soon as
 * it saw the evidence, could disagree with nodes that counted them before, and an honest laggard
 * could then never see a quorum (docs/protocol.md, "Evidence"). `bindings` (owner certificate and
 * role-feed acceptance) name the owner of a forked role feed; vote and QC evidence carry their own.
 * No signature of its own: the evidence is signed by the culprit.
 */
export interface EvidenceItem {
  readonly type: 'evidence'
  readonly record: ConsensusEvidence
  readonly bindings: readonly string[]
}

/** QC lies provable without the registry: only these can be consensus items (execution must not depend on local state). */
const REGISTRY_FREE_LIES = new Set(['vote-mismatch', 'duplicate-owner', 'sig-root'])

export function checkEvidenceItem(value: unknown): Result<EvidenceItem, AppCheckError> {
  if (!hasExactKeys(value, ['type', 'record', 'bindings']) || value.type !== 'evidence')
    return err({
      code: 'TX_MALFORMED',
      reason: 'an evidence item has exactly the keys type, record, bindings',
    })
  const r = value.record as { type?: unknown; lie?: unknown } | null
  if (typeof r !== 'object' || r === null) return err({ code: 'TX_MALFORMED', reason: 'record is an object' })
  if (
    r.type !== 'blockfin/vote-evidence' &&
    r.type !== 'blockfin/qc-evidence' &&
    r.type !== 'blockfin/fork-evidence'
  )
    return err({ code: 'TX_MALFORMED', reason: 'unknown evidence type' })
  if (r.type === 'blockfin/qc-evidence' && !REGISTRY_FREE_LIES.has(String(r.lie)))
    return err({ code: 'TX_MALFORMED', reason: 'this QC lie needs the registry to check' })
  if (!Array.isArray(value.bindings) || !value.bindings.every((b) => typeof b === 'string'))
    return err({ code: 'TX_MALFORMED', reason: 'bindings are message texts' })
  return ok(value as unknown as EvidenceItem)
}

/**
 * The owner an evidence item accuses, read from its structure (the caller knows it verified).
 * A forked feed's owner comes from the bindings; without bindings the forked feed is an owner's.
 */
export function evidenceCulprit(item: EvidenceItem, networkId: string): FeedId | undefined {
  const r = item.record
  if (r.type === 'blockfin/vote-evidence') return r.owner
  if (r.type === 'blockfin/qc-evidence') return r.counter
  if (item.bindings.length === 0) return r.author
  let owner: FeedId | undefined
  let role: string | undefined
  for (const text of item.bindings) {
    const d = decodeMessage(text, null) // structure only: the signatures were checked by verifyTransactions
    if (!d.ok || d.value.value.author !== r.author || d.value.value.sequence !== 1) continue
    const a = parseRoleOwner(d.value.value.content)
    if (a && a.network === networkId) {
      owner = a.ownerid
      role = a.role
    }
  }
  if (!owner) return undefined
  for (const text of item.bindings) {
    const d = decodeMessage(text, null)
    if (!d.ok || d.value.value.author !== owner) continue
    const c = checkRoleCertificate(d.value.value, networkId)
    if (c.ok && c.value.roleId === r.author && c.value.role === role) return owner
  }
  return undefined
}

/** A decoded item: the application's, a membership item, or evidence. */
export type TxItem<T> =
  | { readonly kind: 'app'; readonly id: Digest; readonly tx: T }
  | { readonly kind: 'member'; readonly id: Digest; readonly tx: MemberItem }
  | { readonly kind: 'evidence'; readonly id: Digest; readonly tx: EvidenceItem }

/** `hash`: the platform's sha256 for the item id (noble's by default; all give the same id). */
export function decodeItem<T>(
  app: AppModule<unknown, T>,
  value: unknown,
  hash?: Sha256,
): Result<TxItem<T>, AppCheckError> {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined
  if (type === 'member') {
    const m = checkMemberItem(value)
    return m.ok ? ok({ kind: 'member', id: itemId(m.value, hash), tx: m.value }) : m
  }
  if (type === 'evidence') {
    const e = checkEvidenceItem(value)
    return e.ok
      ? ok({ kind: 'evidence', id: itemId(e.value as unknown as SignedItem, hash), tx: e.value })
      : e
  }
  if (type === app.itemType) {
    const t = app.check(value)
    return t.ok ? ok({ kind: 'app', id: itemId(value as SignedItem, hash), tx: t.value }) : t
  }
  return err({ code: 'TX_MALFORMED', reason: `unknown item type ${String(type)}` })
}

/** `signedText`: the item's canonical text when the caller has it (saves an encoding). */
export function itemSignatureRequest<T>(
  app: AppModule<unknown, T>,
  item: TxItem<T>,
  bytesOf: SignedBytesOf,
  signedText?: string,
): VerifyRequest | undefined {
  if (item.kind === 'evidence') return undefined
  return item.kind === 'member'
    ? itemVerifyRequest(item.tx, item.tx.admin, bytesOf, signedText)
    : itemVerifyRequest(item.tx as unknown as SignedItem, app.signerOf(item.tx), bytesOf, signedText)
}

/** The items of a `blockfin/tx` content, or undefined when the content is not one. */
export function txItemsOf(content: MessageContent): readonly unknown[] | undefined {
  if (content.type !== CONTENT.tx) return undefined
  const keys = Object.keys(content)
  if (keys.length !== 2 || keys[1] !== 'txs' || !Array.isArray(content.txs)) return undefined
  return content.txs
}

export interface TxVerifyContext {
  readonly networkKey: Uint8Array | null
  readonly networkId: string
  /** The signed bytes of an item's unsigned text (default: the feed layer's network HMAC in JavaScript). */
  readonly signedBytesOf?: SignedBytesOf
  /** The platform's sha256 for item ids (default: noble's). */
  readonly sha256?: Sha256
}

/**
 * One boolean per item of a transaction-feed message: well-formed and validly signed by its
 * signer (evidence: the evidence verifies, bindings included). All item signatures go to the
 * backend in one batch. Pure apart from the backend.
 */
export async function verifyTransactions<T>(
  app: AppModule<unknown, T>,
  items: readonly unknown[],
  ctx: TxVerifyContext,
  ed25519: Ed25519Backend,
): Promise<boolean[]> {
  const requests: VerifyRequest[] = []
  const at: number[] = []
  const result = items.map(() => false)
  const evidence: Promise<void>[] = []
  const bytesOf = ctx.signedBytesOf ?? defaultSignedBytes(ctx.networkKey)
  items.forEach((value, i) => {
    // The canonical text once: the item's id and its signed bytes both come from it.
    const text =
      typeof value === 'object' && value !== null
        ? itemIdAndText(value as SignedItem, ctx.sha256).text
        : undefined
    const d = decodeItem(app, value, ctx.sha256)
    if (!d.ok) return
    if (d.value.kind === 'evidence') {
      const item = d.value.tx
      evidence.push(
        verifyEvidenceItem(item, ctx, ed25519).then((valid) => {
          result[i] = valid
        }),
      )
      return
    }
    const r = itemSignatureRequest(app, d.value, bytesOf, text)
    if (!r) return
    requests.push(r)
    at.push(i)
  })
  const valid = await ed25519.verifyBatch(requests)
  valid.forEach((v, j) => {
    result[at[j]!] = v
  })
  await Promise.all(evidence)
  return result
}

async function verifyEvidenceItem(
  item: EvidenceItem,
  ctx: TxVerifyContext,
  ed25519: Ed25519Backend,
): Promise<boolean> {
  const checked = await verifyEvidence(item.record, ctx, ed25519)
  if (!checked.ok) return false
  if (item.bindings.length === 0) return true
  const decoded = item.bindings.map((t) => decodeMessage(t, ctx.networkKey))
  if (!decoded.every((d) => d.ok)) return false
  const valid = await ed25519.verifyBatch(decoded.map((d) => (d.ok ? d.value.verify : undefined)!))
  return valid.every(Boolean) && evidenceCulprit(item, ctx.networkId) !== undefined
}

/** The envelope a feed adds around content, generously counted, so a packed message stays under the limit. */
/** Room kept for a message's envelope (previous, author, sequence, timestamp, hash, signature). */
export const ENVELOPE_ALLOWANCE = 700
/** An item sits 6 spaces deeper in a message than on its own (message, content, txs array). */
const NESTING = 6

/** The length of `value`'s canonical text once nested `depth` spaces deeper in a message's text. */
export function nestedTextLength(value: unknown, depth: number): number {
  const text = encodeCanonical(value as MessageContent)
  let lines = 1
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lines++
  return text.length + depth * lines
}

/** An item's length inside a message's canonical text, from its own canonical text. */
const nestedLength = (item: SignedItem): number => nestedTextLength(item, NESTING)

/**
 * Packs items into as few `blockfin/tx` contents as fit: at most `maxPerMessage` items each and
 * under the message size limit once signed. An item too big for a message on its own is returned
 * in `tooLarge`. Sizes are summed, not re-encoded, so packing is linear.
 */
export function packTxContents(
  items: readonly SignedItem[],
  maxPerMessage: number,
): { contents: MessageContent[]; tooLarge: SignedItem[] } {
  const contents: MessageContent[] = []
  const tooLarge: SignedItem[] = []
  const budget = MAX_MESSAGE_LENGTH - ENVELOPE_ALLOWANCE
  let current: SignedItem[] = []
  let size = 0
  const flush = () => {
    if (current.length > 0) contents.push({ type: CONTENT.tx, txs: current as unknown as MessageContent[] })
    current = []
    size = 0
  }
  for (const item of items) {
    const length = nestedLength(item) + 2 // and the ",\n" that separates it
    if (length > budget) {
      tooLarge.push(item)
      continue
    }
    if (current.length >= maxPerMessage || size + length > budget) flush()
    current.push(item)
    size += length
  }
  flush()
  return { contents, tooLarge }
}
