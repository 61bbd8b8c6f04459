/**
 * What the membership card says: the steps of joining by an invite link, derived from the live
 * validator's membership, and the typed join errors as sentences. Pure (no Svelte, no DOM).
 */
import type { JoinError } from '../../runtime/join-client'
import type { MembershipView } from '../live-validator'

export type JoinStepId = 'connected' | 'sent' | 'registered' | 'scheduled' | 'active'
export type StepState = 'done' | 'current' | 'todo' | 'failed'

export interface JoinStep {
  readonly id: JoinStepId
  readonly label: string
  readonly state: StepState
  readonly detail?: string
}

const ORDER: readonly JoinStepId[] = ['connected', 'sent', 'registered', 'scheduled', 'active']

/** The step a membership state has reached (the one being worked on, or the last one for active). */
function reached(m: MembershipView): number {
  switch (m.state) {
    case 'not-a-member':
    case 'join-failed':
      return 0
    case 'joining':
      return 1
    case 'registered':
      return 2
    case 'scheduled':
      return 3
    case 'active':
      return 4
  }
}

/**
 * Whether a failed join got as far as the relay: a link that does not work (malformed, another
 * network) sent nothing, so there are no steps to show for it.
 */
export function failedBeforeSending(m: MembershipView): boolean {
  return m.state === 'join-failed' && (m.code === 'INVITE_MALFORMED' || m.code === 'INVITE_WRONG_NETWORK')
}

/** The five steps of joining, each done, current, still to come, or failed. */
export function joinSteps(m: MembershipView, connected: boolean): JoinStep[] {
  const at = reached(m)
  // The relay refused or could not be reached: the request step failed; the admission failed: the
  // registration step did.
  const failedAt = m.state !== 'join-failed' ? -1 : m.code === 'ADMISSION_FAILED' ? 2 : 1
  return ORDER.map((id, i): JoinStep => {
    let state: StepState
    if (i === failedAt) state = 'failed'
    else if (m.state === 'active' || i < failedAt) state = 'done'
    else if (id === 'connected') state = connected || at > 0 || failedAt > 0 ? 'done' : 'current'
    else if (i < at) state = 'done'
    else if (i === at) state = 'current'
    else state = 'todo'
    return { id, state, ...stepText(id, m) }
  })
}

function stepText(id: JoinStepId, m: MembershipView): { label: string; detail?: string } {
  switch (id) {
    case 'connected':
      return { label: 'Connected to the relay' }
    case 'sent':
      if (m.state === 'join-failed' && m.code === 'JOIN_UNREACHABLE')
        return { label: 'Relay not reachable', detail: m.reason }
      if (m.state === 'join-failed' && m.code !== 'ADMISSION_FAILED')
        return { label: 'Join request refused', detail: m.reason }
      return { label: 'Join request sent', ...(m.state === 'joining' ? { detail: `to ${m.relay}` } : {}) }
    case 'registered':
      if (m.state === 'join-failed' && m.code === 'ADMISSION_FAILED')
        return { label: 'Admission failed', detail: m.reason }
      return {
        label: 'Registered (pending admission)',
        ...(m.state === 'registered' ? { detail: 'the relay is adding you to the validator set' } : {}),
      }
    case 'scheduled':
      return m.state === 'scheduled'
        ? {
            label: `Admitted: active from block ${m.activeFrom}`,
            detail: `admitted in block ${m.height}; your votes count from block ${m.activeFrom} on`,
          }
        : m.state === 'active' && m.activeFrom !== undefined
          ? { label: `Admitted: active from block ${m.activeFrom}` }
          : { label: 'Admitted: active from block N' }
    case 'active':
      return {
        label: 'Active validator',
        ...(m.state === 'active' ? { detail: 'you vote on every block' } : {}),
      }
  }
}

/** A failed join as a sentence that says what to do. */
export function describeJoinFailure(
  m: Extract<MembershipView, { state: 'join-failed' }>,
  network?: { name: string; id: string },
): string {
  if (m.error) return describeJoinError(m.error, network)
  return `The relay accepted the join request, but the admission failed: ${m.reason}. Ask for a new invite link.`
}

/** A join error (from the page's link or a pasted one) as a sentence that says what to do. */
export function describeJoinError(error: JoinError, network?: { name: string; id: string }): string {
  switch (error.code) {
    case 'INVITE_MALFORMED':
      return `This is not a valid invite link (${error.reason.replace(/^malformed invite: /, '')}). Copy the whole link again from the person who invited you.`
    case 'INVITE_WRONG_NETWORK':
      return `This invite link is for another network${
        network
          ? `, not for "${network.name}" (${network.id.slice(0, 12)}…), the network of this page's relay`
          : ''
      }. Ask for an invite to this network, or open the link on the relay it was made for.`
    case 'JOIN_UNREACHABLE':
      return `The relay at ${error.relay} could not be reached (${error.reason}). Check the connection and try again.`
    case 'JOIN_REFUSED':
      return `The relay refused the join request: ${error.refusal}: ${error.reason}`
  }
}
