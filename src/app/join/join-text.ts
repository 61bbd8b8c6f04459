/**
 * What the join and invite panels say: the steps of joining by an invite link, derived from the
 * live validator's membership, and the typed join errors as sentences. Pure (no Svelte, no DOM).
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

/** The five steps of joining, each done, current, still to come, or failed. */
export function joinSteps(m: MembershipView, connected: boolean): JoinStep[] {
  const at = reached(m)
  const failedAt = m.state === 'join-failed' ? 1 : -1
  return ORDER.map((id, i): JoinStep => {
    let state: StepState
    if (i === failedAt) state = 'failed'
    else if (m.state === 'active') state = 'done'
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
      return m.state === 'join-failed'
        ? { label: 'Join request refused', detail: `${m.code}: ${m.reason}` }
        : { label: 'Join request sent', ...(m.state === 'joining' ? { detail: `to ${m.relay}` } : {}) }
    case 'registered':
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

/** A one-line headline for the membership state. */
export function membershipHeadline(m: MembershipView): string {
  switch (m.state) {
    case 'not-a-member':
      return 'This validator is not in the validator set yet.'
    case 'joining':
      return 'Sending your join request to the relay…'
    case 'registered':
      return 'Registered: waiting for the relay to admit you.'
    case 'scheduled':
      return `Admitted: your validator is active from block ${m.activeFrom}.`
    case 'active':
      return 'Your validator is active: it votes on every block.'
    case 'join-failed':
      return `Joining failed: ${m.reason}`
  }
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

/**
 * The invite the page was opened with, as main.ts reads it (`?join=&network=` on the page's own
 * relay); undefined when the page carries none.
 */
export function inviteOfUrl(url: { origin: string; search: string }): string | undefined {
  const params = new URLSearchParams(url.search)
  const join = params.get('join')
  const network = params.get('network')
  if (join === null && network === null) return undefined
  return `${url.origin}/?${new URLSearchParams({ join: join ?? '', network: network ?? '' })}`
}
