/**
 * Quorum certificates. A Messagenode's counter publishes, for a (stage, height, round, block),
 * the ids of q vote messages by distinct registered owners and the Merkle root of their
 * signatures. A QC proves nothing by itself: anyone re-checks it from the validators' own feeds
 * (`checkQuorumCertificate` over votes already verified by the caller's store, or
 * `verifyQuorumCertificate`, which also re-verifies every linked signature), trusting no
 * Messagenode. Validators never act on a QC; they count votes themselves.
 */
import type { Ed25519Backend } from '../crypto/ed25519'
import type { Sha256 } from '../crypto/hash'
import { decodeMessage } from '../feed/decode'
import type { VerifiedMessage } from '../feed/message'
import type { FeedId, MessageId } from '../identity/ids'
import type { Role } from '../identity/roles'
import { type Digest, merkleRootOfTexts } from '../merkle'
import { err, ok, type Result } from '../result'
import { parseVote, type QcContent, VOTER_ROLE, type VoteContent, voteValue } from './content'
import type { MemberSet } from './membership'

export type QcError =
  | { code: 'QC_UNKNOWN_SET'; height: number }
  | { code: 'QC_TOO_FEW_VOTES'; count: number; quorum: number }
  | { code: 'QC_VOTE_MISSING'; ids: MessageId[] }
  | { code: 'QC_VOTE_MISMATCH'; id: MessageId }
  | { code: 'QC_UNBOUND_VOTER'; id: MessageId }
  | { code: 'QC_NOT_A_MEMBER'; id: MessageId; owner: FeedId }
  | { code: 'QC_DUPLICATE_OWNER'; owner: FeedId; ids: [MessageId, MessageId] }
  | { code: 'QC_SIG_ROOT_MISMATCH'; expected: Digest }
  | { code: 'QC_CONVICTED_VOTER'; owner: FeedId }

/** Errors that prove the counter lied (given the linked messages, their bindings and the registry). */
export const PROVABLE_QC_ERRORS = new Set<QcError['code']>([
  'QC_TOO_FEW_VOTES',
  'QC_VOTE_MISMATCH',
  'QC_NOT_A_MEMBER',
  'QC_DUPLICATE_OWNER',
  'QC_SIG_ROOT_MISMATCH',
])

export interface QcCheckContext {
  /** A linked vote message, already signature-checked by the caller, or undefined when not held. */
  vote(id: MessageId): VerifiedMessage | undefined
  ownerOf(roleKey: FeedId, role: Role): FeedId | undefined
  setAt(height: number): MemberSet | undefined
  isConvicted?(owner: FeedId): boolean
  /** The sha256 of the sigRoot (a native one in Node; the same bytes as the default). */
  readonly sha256?: Sha256
}

/** The signature part of a signed message text, what the QC's sigRoot commits to. */
export const signatureOf = (message: VerifiedMessage): string => message.value.signature

/** The sigRoot of a list of vote messages, in the listed order. */
export const sigRootOf = (votes: readonly VerifiedMessage[], hash?: Sha256): Digest =>
  merkleRootOfTexts(votes.map(signatureOf), hash)

export function voteMatchesQc(vote: VoteContent, qc: QcContent): boolean {
  return (
    vote.stage === qc.stage &&
    vote.height === qc.height &&
    vote.round === qc.round &&
    vote.block === qc.block &&
    vote.stateRoot === qc.stateRoot &&
    vote.resultsRoot === qc.resultsRoot
  )
}

/** Checks a QC against votes the caller holds. Provable lies are reported before missing data. */
export function checkQuorumCertificate(
  qc: QcContent,
  ctx: QcCheckContext,
): Result<{ signers: FeedId[] }, QcError> {
  const set = ctx.setAt(qc.height)
  if (!set) return err({ code: 'QC_UNKNOWN_SET', height: qc.height })
  const distinct = [...new Set(qc.votes)]
  if (distinct.length < set.q) return err({ code: 'QC_TOO_FEW_VOTES', count: distinct.length, quorum: set.q })
  const missing: MessageId[] = []
  const held: VerifiedMessage[] = []
  const owners = new Map<FeedId, MessageId>()
  let unbound: MessageId | undefined
  for (const id of distinct) {
    const message = ctx.vote(id)
    if (!message) {
      missing.push(id)
      continue
    }
    held.push(message)
    const vote = parseVote(message.value.content)
    if (!vote || !voteMatchesQc(vote, qc)) return err({ code: 'QC_VOTE_MISMATCH', id })
    const owner = ctx.ownerOf(message.value.author, VOTER_ROLE[qc.stage])
    if (!owner) {
      unbound ??= id
      continue
    }
    if (!set.validatorSet.has(owner)) return err({ code: 'QC_NOT_A_MEMBER', id, owner })
    const other = owners.get(owner)
    if (other) return err({ code: 'QC_DUPLICATE_OWNER', owner, ids: [other, id] })
    owners.set(owner, id)
  }
  if (missing.length > 0) return err({ code: 'QC_VOTE_MISSING', ids: missing })
  const expected = sigRootOf(
    qc.votes.map((id) => ctx.vote(id)!),
    ctx.sha256,
  )
  if (expected !== qc.sigRoot) return err({ code: 'QC_SIG_ROOT_MISMATCH', expected })
  if (unbound) return err({ code: 'QC_UNBOUND_VOTER', id: unbound })
  for (const owner of owners.keys())
    if (ctx.isConvicted?.(owner)) return err({ code: 'QC_CONVICTED_VOTER', owner })
  return ok({ signers: [...owners.keys()].sort() })
}

export interface QcVerifyContext {
  readonly networkKey: Uint8Array | null
  /** A message text from the verifier's own replicated feeds. */
  getMessage(id: MessageId): string | undefined
  ownerOf(roleKey: FeedId, role: Role): FeedId | undefined
  setAt(height: number): MemberSet | undefined
  isConvicted?(owner: FeedId): boolean
}

/**
 * Verifies a QC as an observer: fetches every linked vote from its own replicas, re-verifies each
 * signature (one batch), then checks the QC. Nothing a Messagenode says is taken on trust.
 */
export async function verifyQuorumCertificate(
  qc: QcContent,
  ctx: QcVerifyContext,
  ed25519: Ed25519Backend,
): Promise<Result<{ signers: FeedId[] }, QcError>> {
  const decoded = new Map<MessageId, ReturnType<typeof decodeMessage>>()
  for (const id of new Set(qc.votes)) {
    const text = ctx.getMessage(id)
    if (text !== undefined) decoded.set(id, decodeMessage(text, ctx.networkKey))
  }
  const candidates = [...decoded].flatMap(([id, d]) => (d.ok && d.value.id === id ? [d.value] : []))
  const valid = await ed25519.verifyBatch(candidates.map((d) => d.verify))
  const verified = new Map<MessageId, VerifiedMessage>()
  candidates.forEach((d, i) => {
    if (valid[i]) verified.set(d.id, d)
  })
  return checkQuorumCertificate(qc, {
    vote: (id) => verified.get(id),
    ownerOf: ctx.ownerOf,
    setAt: ctx.setAt,
    isConvicted: ctx.isConvicted,
  })
}

/** The value a QC certifies, in the vote-book's terms. */
export const qcValue = (qc: QcContent): string => voteValue({ ...qc })
