/**
 * The content of every consensus message, one `type` per role feed (docs/protocol.md, section
 * "Consensus messages"), and strict parsers: content with extra, missing or mistyped fields is
 * refused, so two honest nodes never read one message two ways.
 */
import { encodeCanonical, type MessageContent } from '../feed/message'
import { type FeedId, isFeedId, isMessageId, type MessageId } from '../identity/ids'
import type { Role } from '../identity/roles'
import { type Digest, digestOfText, isDigest } from '../merkle'

export const CONTENT = {
  roleOwner: 'blockfin/role-owner',
  tx: 'blockfin/tx',
  precommit: 'blockfin/precommit',
  commit: 'blockfin/commit',
  seal: 'blockfin/seal',
  emptyBlock: 'blockfin/empty-block',
  assembled: 'blockfin/assembled',
  qc: 'blockfin/qc',
  evidence: 'blockfin/evidence',
} as const

/** The three voting stages. A seal has no round: it certifies execution, not a choice. */
export type Stage = 'precommit' | 'commit' | 'seal'
export const STAGES: readonly Stage[] = ['precommit', 'commit', 'seal']

/** The validator role that signs each stage, and the Messagenode role that counts it. */
export const VOTER_ROLE: Record<Stage, Role> = {
  precommit: 'precommitter',
  commit: 'committer',
  seal: 'sealer',
}
export const COUNTER_ROLE: Record<Stage, Role> = {
  precommit: 'precommit-counter',
  commit: 'commit-counter',
  seal: 'seal-counter',
}

/** First message of every role feed: the role key names its owner (proof of possession, see docs). */
export interface RoleOwnerContent extends MessageContent {
  type: typeof CONTENT.roleOwner
  ownerid: FeedId
  role: Role
  network: string
}

/** A contiguous range of one transaction feed: sequences `from..to`, inclusive. */
export interface Cut {
  feed: FeedId
  from: number
  to: number
}

/** The block: what validators vote on. Its id is the digest of its canonical text. */
export interface BlockHeader {
  network: string
  height: number
  /** Digest of empty block `height`. */
  slot: Digest
  /** Id of the committed block at height - 1 (the genesis digest at height 1). */
  parent: Digest
  /** Sorted by feed id, one per feed at most, each starting right after the lineage's frontier. */
  cuts: Cut[]
  /** Items in the referenced messages. */
  txCount: number
  /** Merkle root of the referenced message ids, ordered by (feed id, sequence). */
  txRoot: Digest
}

export interface VoteContent {
  stage: Stage
  height: number
  round: number
  /** null: nil (precommit and commit only). */
  block: Digest | null
  /** Seal only. */
  stateRoot: Digest | null
  resultsRoot: Digest | null
}

export interface AssembledContent {
  height: number
  round: number
  /** The round of the precommit quorum this block is re-proposed under, or -1 (Tendermint's validRound). */
  validRound: number
  block: Digest
  header: BlockHeader
}

export interface QcContent {
  stage: Stage
  height: number
  round: number
  block: Digest
  stateRoot: Digest | null
  resultsRoot: Digest | null
  /** Ids of the vote messages, in ascending order of their owners' ids. */
  votes: MessageId[]
  /** Merkle root of those messages' signatures, in the same order. */
  sigRoot: Digest
}

export const isNatural = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isPositive = (v: unknown): v is number => isNatural(v) && v >= 1
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function exactKeys(v: unknown, keys: readonly string[]): v is Record<string, unknown> {
  if (!isRecord(v)) return false
  const own = Object.keys(v)
  return own.length === keys.length && own.every((k, i) => k === keys[i])
}

const HEADER_KEYS = ['network', 'height', 'slot', 'parent', 'cuts', 'txCount', 'txRoot'] as const
const CUT_KEYS = ['feed', 'from', 'to'] as const

export const blockIdOf = (header: BlockHeader): Digest => digestOfText(encodeCanonical(header))

export function parseHeader(v: unknown): BlockHeader | undefined {
  if (!exactKeys(v, HEADER_KEYS)) return undefined
  if (typeof v.network !== 'string' || !isPositive(v.height) || !isDigest(v.slot) || !isDigest(v.parent))
    return undefined
  if (!isNatural(v.txCount) || !isDigest(v.txRoot) || !Array.isArray(v.cuts)) return undefined
  for (const c of v.cuts) {
    if (!exactKeys(c, CUT_KEYS) || !isFeedId(c.feed) || !isPositive(c.from) || !isPositive(c.to))
      return undefined
    if (c.to < c.from) return undefined
  }
  return v as unknown as BlockHeader
}

export function voteContent(v: VoteContent): MessageContent {
  if (v.stage === 'seal')
    return {
      type: CONTENT.seal,
      height: v.height,
      block: v.block,
      stateRoot: v.stateRoot,
      resultsRoot: v.resultsRoot,
    }
  return { type: CONTENT[v.stage], height: v.height, round: v.round, block: v.block }
}

export function parseVote(content: MessageContent): VoteContent | undefined {
  if (content.type === CONTENT.precommit || content.type === CONTENT.commit) {
    if (!exactKeys(content, ['type', 'height', 'round', 'block'])) return undefined
    if (!isPositive(content.height) || !isNatural(content.round)) return undefined
    if (content.block !== null && !isDigest(content.block)) return undefined
    return {
      stage: content.type === CONTENT.precommit ? 'precommit' : 'commit',
      height: content.height,
      round: content.round,
      block: content.block,
      stateRoot: null,
      resultsRoot: null,
    }
  }
  if (content.type === CONTENT.seal) {
    if (!exactKeys(content, ['type', 'height', 'block', 'stateRoot', 'resultsRoot'])) return undefined
    if (!isPositive(content.height) || !isDigest(content.block)) return undefined
    if (!isDigest(content.stateRoot) || !isDigest(content.resultsRoot)) return undefined
    return {
      stage: 'seal',
      height: content.height,
      round: 0,
      block: content.block,
      stateRoot: content.stateRoot,
      resultsRoot: content.resultsRoot,
    }
  }
  return undefined
}

/** What makes two votes of one owner for one (height, round, stage) the same vote. */
export const voteValue = (v: VoteContent): string =>
  v.stage === 'seal' ? `${v.block} ${v.stateRoot} ${v.resultsRoot}` : (v.block ?? 'nil')

export function assembledContent(a: AssembledContent): MessageContent {
  return {
    type: CONTENT.assembled,
    height: a.height,
    round: a.round,
    validRound: a.validRound,
    block: a.block,
    header: a.header as unknown as MessageContent,
  }
}

export function parseAssembled(content: MessageContent): AssembledContent | undefined {
  if (!exactKeys(content, ['type', 'height', 'round', 'validRound', 'block', 'header'])) return undefined
  if (content.type !== CONTENT.assembled) return undefined
  if (!isPositive(content.height) || !isNatural(content.round) || !isDigest(content.block)) return undefined
  const vr = content.validRound
  if (typeof vr !== 'number' || !Number.isSafeInteger(vr) || vr < -1 || (vr >= 0 && vr >= content.round))
    return undefined
  const header = parseHeader(content.header)
  if (!header || header.height !== content.height || blockIdOf(header) !== content.block) return undefined
  return { height: content.height, round: content.round, validRound: vr, block: content.block, header }
}

export function qcContent(qc: QcContent): MessageContent {
  return {
    type: CONTENT.qc,
    stage: qc.stage,
    height: qc.height,
    round: qc.round,
    block: qc.block,
    stateRoot: qc.stateRoot,
    resultsRoot: qc.resultsRoot,
    votes: qc.votes,
    sigRoot: qc.sigRoot,
  }
}

const QC_KEYS = ['type', 'stage', 'height', 'round', 'block', 'stateRoot', 'resultsRoot', 'votes', 'sigRoot']

export function parseQc(content: MessageContent): QcContent | undefined {
  if (!exactKeys(content, QC_KEYS) || content.type !== CONTENT.qc) return undefined
  const { stage, height, round, block, stateRoot, resultsRoot, votes, sigRoot } = content
  if (stage !== 'precommit' && stage !== 'commit' && stage !== 'seal') return undefined
  if (!isPositive(height) || !isNatural(round) || !isDigest(block) || !isDigest(sigRoot)) return undefined
  if (stage === 'seal' ? round !== 0 || !isDigest(stateRoot) || !isDigest(resultsRoot) : stateRoot !== null)
    return undefined
  if (stage !== 'seal' && resultsRoot !== null) return undefined
  if (!Array.isArray(votes) || !votes.every(isMessageId)) return undefined
  return {
    stage,
    height,
    round,
    block,
    stateRoot: stateRoot as Digest | null,
    resultsRoot: resultsRoot as Digest | null,
    votes: votes as MessageId[],
    sigRoot,
  }
}

export function parseRoleOwner(content: MessageContent): RoleOwnerContent | undefined {
  if (!exactKeys(content, ['type', 'ownerid', 'role', 'network']) || content.type !== CONTENT.roleOwner)
    return undefined
  if (!isFeedId(content.ownerid) || typeof content.role !== 'string' || typeof content.network !== 'string')
    return undefined
  return content as unknown as RoleOwnerContent
}

export interface EmptyBlockContent {
  height: number
  previous: Digest
  slot: Digest
}

export function parseEmptyBlock(content: MessageContent): EmptyBlockContent | undefined {
  if (!exactKeys(content, ['type', 'height', 'previous', 'slot']) || content.type !== CONTENT.emptyBlock)
    return undefined
  if (!isPositive(content.height) || !isDigest(content.previous) || !isDigest(content.slot)) return undefined
  return { height: content.height, previous: content.previous, slot: content.slot }
}
