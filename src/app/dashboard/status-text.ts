/**
 * Sentences for the dashboard's status lines: where this identity stands in the validator set,
 * the connection (online, offline, catching up) and the alerts' evidence. Pure.
 */
import type { ConsensusEvidence } from '../../core/consensus/evidence'
import type { FeedId } from '../../core/identity/ids'
import type { MembershipView } from '../live-validator'

/** Membership in words: the membership card's (src/app/join/JoinPanel.svelte) title and sentence. */
export interface MembershipLine {
  /** Steps of the join: not a member → joining → registered → scheduled → active. */
  readonly step: 0 | 1 | 2 | 3 | 4
  readonly state: MembershipView['state']
  readonly title: string
  readonly sentence: string
}

export function membershipLine(m: MembershipView): MembershipLine {
  switch (m.state) {
    case 'not-a-member':
      return {
        step: 0,
        state: m.state,
        title: 'Not a member',
        sentence:
          'This identity is not in the validator set: it follows the network but does not vote. Open an invite link to join.',
      }
    case 'joining':
      return {
        step: 1,
        state: m.state,
        title: 'Joining',
        sentence: `Sending the join request to the relay ${m.relay}.`,
      }
    case 'registered':
      return {
        step: 2,
        state: m.state,
        title: 'Registered',
        sentence:
          'The relay accepted the join request and put it in a transaction; waiting for a block to include it.',
      }
    case 'scheduled':
      return {
        step: 3,
        state: m.state,
        title: `Scheduled: active from block ${m.activeFrom}`,
        sentence: `Admitted in block ${m.height}. Membership changes take effect a few blocks later, so this validator votes from block ${m.activeFrom} on.`,
      }
    case 'active':
      return {
        step: 4,
        state: m.state,
        title: 'Active',
        sentence:
          m.activeFrom === undefined
            ? 'This validator is in the validator set and votes on every block.'
            : `This validator is in the validator set and votes on every block since block ${m.activeFrom}.`,
      }
    case 'join-failed':
      return {
        step: 0,
        state: m.state,
        title: 'Joining failed',
        sentence: `The join did not go through (${m.code}): ${m.reason}`,
      }
  }
}

/** The validator set's size in words; says when f = 0 means every active validator must sign. */
export function validatorSetSentence(v: {
  readonly n: number
  readonly f: number
  readonly q: number
}): string {
  if (v.n === 0) return 'The validator set is empty.'
  const base = `${v.n} validator${v.n === 1 ? '' : 's'}, tolerating f = ${v.f} faulty, quorum q = ${v.q} signatures.`
  if (v.f === 0)
    return `${base} Fewer than 4 validators: f = 0, every active validator must sign, so one validator offline stops the chain.`
  return base
}

export type ConnectionKind = 'online' | 'offline' | 'syncing' | 'connecting'

export interface ConnectionLine {
  readonly kind: ConnectionKind
  readonly sentence: string
  /** Catch-up progress, 0..1 (null: not catching up, or the target is not known). */
  readonly progress: number | null
  readonly own: number
  /** The highest sealed height known elsewhere (relay status, QCs seen); null: not known. */
  readonly target: number | null
}

export interface ConnectionInput {
  /** navigator.onLine */
  readonly browserOnline: boolean
  /** Connected to the relay or to at least one other validator (null: the network is not known). */
  readonly connected: boolean | null
  /** This tab's sealed height. */
  readonly sealed: number
  /** The highest sealed height known elsewhere (the relay's status), null when not known. */
  readonly target: number | null
}

/** Behind by more than this many heights is "catching up". */
export const SYNC_MARGIN = 1

export function connectionLine(c: ConnectionInput): ConnectionLine {
  const own = c.sealed
  const target = c.target === null ? null : Math.max(c.target, own)
  if (!c.browserOnline)
    return {
      kind: 'offline',
      sentence:
        'Offline: this validator keeps appending to its own feeds locally and sends them when the browser is back online.',
      progress: null,
      own,
      target,
    }
  if (c.connected === false || c.connected === null)
    return {
      kind: 'connecting',
      sentence:
        c.connected === null
          ? 'Online; the network connection is not known yet.'
          : 'Online, but not connected to the relay or any validator yet: appending locally meanwhile.',
      progress: null,
      own,
      target,
    }
  if (target !== null && target - own > SYNC_MARGIN)
    return {
      kind: 'syncing',
      sentence: `Catching up: sealed up to block ${own} of ${target}.`,
      progress: target === 0 ? 1 : own / target,
      own,
      target,
    }
  return {
    kind: 'online',
    sentence:
      target === null
        ? `Online and connected; sealed up to block ${own}.`
        : `Online and up to date: sealed up to block ${own} (the relay: ${target}).`,
    progress: null,
    own,
    target,
  }
}

export interface EvidenceAlert {
  readonly kind: 'equivocation' | 'fork' | 'lying-messagenode'
  readonly culprit: FeedId
  readonly title: string
  readonly sentence: string
  /** A file name for the proof download. */
  readonly fileName: string
  /** The evidence record as JSON (what anyone holding the network key can check offline). */
  readonly json: string
}

const short = (id: string) => `${id.slice(0, 10)}…`

/** An alert for a runtime 'evidence' or 'messagenode-flagged' event. */
export function evidenceAlert(
  event:
    | { readonly type: 'evidence'; readonly culprit: FeedId; readonly evidence: ConsensusEvidence }
    | { readonly type: 'messagenode-flagged'; readonly owner: FeedId; readonly evidence: ConsensusEvidence },
  at: number,
): EvidenceAlert {
  const e = event.evidence
  const culprit = event.type === 'evidence' ? event.culprit : event.owner
  const stamp = new Date(at).toISOString().replace(/[:.]/g, '-')
  const json = `${JSON.stringify(e, null, 2)}\n`
  if (e.type === 'blockfin/qc-evidence')
    return {
      kind: 'lying-messagenode',
      culprit,
      title: 'A Messagenode published a false quorum certificate',
      sentence: `Messagenode ${short(culprit)} signed a ${e.lie} certificate: the votes it links contradict it. Its certificates are no longer trusted.`,
      fileName: `blockfin-qc-evidence-${stamp}.json`,
      json,
    }
  if (e.type === 'blockfin/fork-evidence')
    return {
      kind: 'fork',
      culprit,
      title: 'A feed was forked',
      sentence: `${short(e.author)} signed two different messages at sequence ${e.sequence} of its feed.`,
      fileName: `blockfin-fork-evidence-${stamp}.json`,
      json,
    }
  return {
    kind: 'equivocation',
    culprit,
    title: 'Equivocation: a validator voted twice',
    sentence: `Validator ${short(culprit)} signed two different ${e.stage} statements for block ${e.height}, round ${e.round}. The evidence goes into a block and removes it from the validator set.`,
    fileName: `blockfin-vote-evidence-${stamp}.json`,
    json,
  }
}
