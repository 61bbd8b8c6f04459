/**
 * The participant's side of joining (docs/relay-api.md "Joining"): send a signed join request to
 * the relay named by an invite link, then ask for the admission's progress. Shared by the tab and
 * the headless validator.
 */
import type { FeedId } from '../core/identity/ids'
import { encodeJoinRequest, type JoinRequest } from '../core/invite/join-request'
import { describeInviteLinkError, type InviteLink, parseInviteLink } from '../core/invite/link'
import { err, ok, type Result } from '../core/result'

export type JoinError =
  | { readonly code: 'INVITE_MALFORMED' | 'INVITE_WRONG_NETWORK'; readonly reason: string }
  | { readonly code: 'JOIN_UNREACHABLE'; readonly relay: string; readonly reason: string }
  | {
      readonly code: 'JOIN_REFUSED'
      readonly status: number
      readonly refusal: string
      readonly reason: string
    }

/** GET /api/join/<owner>'s answer. */
export type AdmissionProgress =
  | { readonly status: 'pending'; readonly item: string }
  | {
      readonly status: 'admitted'
      readonly item: string
      readonly height: number
      readonly activeFrom: number
    }
  | { readonly status: 'failed'; readonly reason: string }

/** Parses an invite link for `network` into the typed error a person can read. */
export function readInviteLink(text: string, network: string): Result<InviteLink, JoinError> {
  const parsed = parseInviteLink(text, { expectedNetwork: network })
  if (!parsed.ok) return err({ code: parsed.error.code, reason: describeInviteLinkError(parsed.error) })
  return parsed
}

/** POST /api/join on the link's relay. Resolves with the membership item's id once it is submitted. */
export async function requestJoin(
  link: InviteLink,
  request: JoinRequest,
  deps: { readonly fetch: typeof fetch },
): Promise<Result<{ item: string }, JoinError>> {
  let response: Response
  try {
    response = await deps.fetch(new URL('/api/join', link.relay), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: encodeJoinRequest(request),
      signal: AbortSignal.timeout(15_000),
    })
  } catch (e) {
    return err({ code: 'JOIN_UNREACHABLE', relay: link.relay, reason: (e as Error).message })
  }
  const body = (await response.json().catch(() => ({}))) as {
    item?: string
    error?: { code?: string; message?: string }
  }
  if (!response.ok)
    return err({
      code: 'JOIN_REFUSED',
      status: response.status,
      refusal: body.error?.code ?? `HTTP_${response.status}`,
      reason: body.error?.message ?? response.statusText,
    })
  return ok({ item: body.item ?? '' })
}

/** GET /api/join/<owner>: undefined when the relay does not know the owner or cannot be reached. */
export async function admissionProgress(
  relay: string,
  owner: FeedId,
  deps: { readonly fetch: typeof fetch },
): Promise<AdmissionProgress | undefined> {
  try {
    const response = await deps.fetch(new URL(`/api/join/${encodeURIComponent(owner)}`, relay), {
      signal: AbortSignal.timeout(5_000),
    })
    if (!response.ok) return undefined
    const body = (await response.json()) as Record<string, unknown>
    if (body.status === 'admitted' && typeof body.activeFrom === 'number' && typeof body.height === 'number')
      return {
        status: 'admitted',
        item: String(body.item ?? ''),
        height: body.height,
        activeFrom: body.activeFrom,
      }
    if (body.status === 'pending') return { status: 'pending', item: String(body.item ?? '') }
    if (body.status === 'failed') return { status: 'failed', reason: String(body.reason ?? 'failed') }
    return undefined
  } catch {
    return undefined
  }
}
