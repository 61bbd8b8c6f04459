/**
 * Self-contained, verifiable evidence (protocol section "Evidence"). Each record carries the signed
 * messages that convict, and the role bindings (owner certificate + role-feed acceptance) that tie
 * the signing keys to the accused owner, so anyone holding the network key checks it offline:
 *
 * - vote evidence: two different statements by one owner for one (stage, height, round): two
 *   votes, or two assembled blocks by one assembler;
 * - QC evidence: a Messagenode's quorum certificate contradicted by the very votes it links;
 * - fork evidence (the feed layer's): two histories of one feed.
 */
import type { Ed25519Backend } from '../crypto/ed25519'
import { type DecodedMessage, decodeMessage } from '../feed/decode'
import { type ForkEvidence, verifyForkEvidence } from '../feed/evidence'
import type { FeedId, MessageId } from '../identity/ids'
import { checkRoleCertificate, type Role } from '../identity/roles'
import { err, ok, type Result } from '../result'
import {
  COUNTER_ROLE,
  parseAssembled,
  parseQc,
  parseRoleOwner,
  parseVote,
  type Stage,
  VOTER_ROLE,
  voteValue,
} from './content'
import { sigRootOf, voteMatchesQc } from './qc'

export type StatementKind = Stage | 'assembled'

export interface VoteEvidence {
  type: 'blockfin/vote-evidence'
  version: 1
  owner: FeedId
  stage: StatementKind
  height: number
  round: number
  /** The two conflicting statements, exactly as signed. */
  messages: [string, string]
  /** For each signing key: the owner's certificate and the key's role-owner message. */
  bindings: string[]
}

export type QcLie = 'vote-mismatch' | 'duplicate-owner' | 'too-few-votes' | 'sig-root' | 'not-a-member'

export interface QcEvidence {
  type: 'blockfin/qc-evidence'
  version: 1
  /** The Messagenode owner whose counter signed the QC. */
  counter: FeedId
  lie: QcLie
  /** The QC message as signed. */
  qc: string
  /** The linked votes the lie is about (all of them for `sig-root`). */
  votes: string[]
  bindings: string[]
}

export type ConsensusEvidence = VoteEvidence | QcEvidence | ForkEvidence

export type EvidenceError = { code: 'EVIDENCE_INVALID'; reason: string }

export interface EvidenceContext {
  readonly networkKey: Uint8Array | null
  readonly networkId: string
}

export const STATEMENT_ROLE: Record<StatementKind, Role> = { ...VOTER_ROLE, assembled: 'block-assembler' }

const invalid = (reason: string) => err({ code: 'EVIDENCE_INVALID' as const, reason })

/** Decodes and signature-checks texts in one batch; undefined when any fails. */
async function decodeAll(
  texts: readonly string[],
  ctx: EvidenceContext,
  ed25519: Ed25519Backend,
): Promise<DecodedMessage[] | undefined> {
  const decoded: DecodedMessage[] = []
  for (const t of texts) {
    const d = decodeMessage(t, ctx.networkKey)
    if (!d.ok) return undefined
    decoded.push(d.value)
  }
  const valid = await ed25519.verifyBatch(decoded.map((d) => d.verify))
  return valid.every(Boolean) ? decoded : undefined
}

/** True when `bindings` tie `roleKey` to `owner` in `role` on this network, both ways. */
function bound(
  bindings: readonly DecodedMessage[],
  roleKey: FeedId,
  owner: FeedId,
  role: Role,
  networkId: string,
): boolean {
  const certified = bindings.some((m) => {
    if (m.value.author !== owner) return false
    const c = checkRoleCertificate(m.value, networkId)
    return c.ok && c.value.roleId === roleKey && c.value.role === role
  })
  const accepted = bindings.some((m) => {
    if (m.value.author !== roleKey || m.value.sequence !== 1) return false
    const a = parseRoleOwner(m.value.content)
    return a !== undefined && a.ownerid === owner && a.role === role && a.network === networkId
  })
  return certified && accepted
}

/** What a statement says: its slot and value, or undefined when it is not a statement of `kind`. */
function statementOf(
  m: DecodedMessage,
  kind: StatementKind,
): { height: number; round: number; value: string } | undefined {
  if (kind === 'assembled') {
    const a = parseAssembled(m.value.content)
    return a && { height: a.height, round: a.round, value: a.block }
  }
  const v = parseVote(m.value.content)
  return v && v.stage === kind ? { height: v.height, round: v.round, value: voteValue(v) } : undefined
}

export async function verifyVoteEvidence(
  e: VoteEvidence,
  ctx: EvidenceContext,
  ed25519: Ed25519Backend,
): Promise<Result<{ culprit: FeedId }, EvidenceError>> {
  if (e.type !== 'blockfin/vote-evidence' || e.version !== 1)
    return invalid('unknown evidence type or version')
  if (!Array.isArray(e.messages) || e.messages.length !== 2 || !Array.isArray(e.bindings))
    return invalid('malformed')
  const all = await decodeAll([...e.messages, ...e.bindings], ctx, ed25519)
  if (!all) return invalid('a message does not decode or verify')
  const [a, b, ...bindings] = all as [DecodedMessage, DecodedMessage, ...DecodedMessage[]]
  if (a.id === b.id) return invalid('the same message twice')
  const role = STATEMENT_ROLE[e.stage]
  if (!role) return invalid('unknown stage')
  const sa = statementOf(a, e.stage)
  const sb = statementOf(b, e.stage)
  if (!sa || !sb) return invalid(`not two ${e.stage} statements`)
  if (sa.height !== e.height || sb.height !== e.height || sa.round !== e.round || sb.round !== e.round)
    return invalid('statements are not for the named height and round')
  if (sa.value === sb.value) return invalid('the statements agree')
  for (const m of [a, b])
    if (!bound(bindings, m.value.author, e.owner, role, ctx.networkId))
      return invalid(`no binding of ${m.value.author} to ${e.owner} as ${role}`)
  return ok({ culprit: e.owner })
}

/**
 * Checks that a QC is contradicted by the votes it links. `quorumAt` (and `isValidator`) come from
 * the verifier's registry: the only lies that need it are too few votes and non-member voters.
 */
export async function verifyQcEvidence(
  e: QcEvidence,
  ctx: EvidenceContext & {
    quorumAt?(height: number): number | undefined
    isValidator?(owner: FeedId, height: number): boolean | undefined
  },
  ed25519: Ed25519Backend,
): Promise<Result<{ culprit: FeedId }, EvidenceError>> {
  if (e.type !== 'blockfin/qc-evidence' || e.version !== 1) return invalid('unknown evidence type or version')
  if (!Array.isArray(e.votes) || !Array.isArray(e.bindings)) return invalid('malformed')
  const all = await decodeAll([e.qc, ...e.votes, ...e.bindings], ctx, ed25519)
  if (!all) return invalid('a message does not decode or verify')
  const [qcMessage, ...rest] = all as [DecodedMessage, ...DecodedMessage[]]
  const votes = rest.slice(0, e.votes.length)
  const bindings = rest.slice(e.votes.length)
  const qc = parseQc(qcMessage.value.content)
  if (!qc) return invalid('not a QC')
  if (!bound(bindings, qcMessage.value.author, e.counter, COUNTER_ROLE[qc.stage], ctx.networkId))
    return invalid('the QC is not bound to the accused Messagenode')
  const linked = new Set<MessageId>(qc.votes)
  if (!votes.every((v) => linked.has(v.id))) return invalid('a cited vote is not linked by the QC')
  const voterRole = VOTER_ROLE[qc.stage]
  const ownerOf = (v: DecodedMessage): FeedId | undefined => {
    for (const m of bindings) {
      const c = m.value.author !== v.value.author ? parseRoleOwner(m.value.content) : undefined
      if (c && bound(bindings, v.value.author, c.ownerid, voterRole, ctx.networkId)) return c.ownerid
    }
    return undefined
  }
  const culprit = ok({ culprit: e.counter })
  switch (e.lie) {
    case 'vote-mismatch': {
      const v = votes[0]
      const content = v && parseVote(v.value.content)
      if (!v) return invalid('no vote cited')
      return !content || !voteMatchesQc(content, qc) ? culprit : invalid('the vote matches the QC')
    }
    case 'duplicate-owner': {
      const [v1, v2] = votes
      if (!v1 || !v2 || v1.id === v2.id) return invalid('two different votes are needed')
      const o1 = ownerOf(v1)
      return o1 !== undefined && o1 === ownerOf(v2) ? culprit : invalid('the votes are not by one owner')
    }
    case 'too-few-votes': {
      const q = ctx.quorumAt?.(qc.height)
      if (q === undefined) return invalid('the quorum of that height is unknown to the verifier')
      return linked.size < q ? culprit : invalid('the QC links a quorum')
    }
    case 'not-a-member': {
      const v = votes[0]
      const owner = v && ownerOf(v)
      if (!owner) return invalid('no bound vote cited')
      const member = ctx.isValidator?.(owner, qc.height)
      if (member === undefined) return invalid('the registry of that height is unknown to the verifier')
      return member ? invalid('the voter is a member') : culprit
    }
    case 'sig-root': {
      const byId = new Map(votes.map((v) => [v.id, v]))
      if (!qc.votes.every((id) => byId.has(id))) return invalid('every linked vote is needed')
      return sigRootOf(qc.votes.map((id) => byId.get(id)!)) !== qc.sigRoot
        ? culprit
        : invalid('the root matches')
    }
    default:
      return invalid('unknown lie')
  }
}

export async function verifyEvidence(
  e: ConsensusEvidence,
  ctx: EvidenceContext & Parameters<typeof verifyQcEvidence>[1],
  ed25519: Ed25519Backend,
): Promise<Result<{ culprit: FeedId }, EvidenceError>> {
  if (e.type === 'blockfin/vote-evidence') return verifyVoteEvidence(e, ctx, ed25519)
  if (e.type === 'blockfin/qc-evidence') return verifyQcEvidence(e, ctx, ed25519)
  if (e.type === 'blockfin/fork-evidence') {
    const r = await verifyForkEvidence(e, ctx.networkKey, ed25519)
    return r.ok ? ok({ culprit: r.value.author }) : r
  }
  return invalid('unknown evidence type')
}
