/**
 * This validator's role feeds (transaction-validator, precommitter, committer, sealer): latest
 * sequence and the type of the latest message. Pure helpers over message texts.
 */

export interface RoleFeed {
  readonly role: string
  readonly id: string
  /** Messages in the feed (0: none yet). */
  readonly sequence: number
  /** The latest message's content type; null when none or not read yet. */
  readonly type: string | null
}

/** The `content.type` of a stored message text; null when it is not readable. */
export function messageTypeOf(text: string | undefined): string | null {
  if (text === undefined) return null
  try {
    const value = JSON.parse(text) as { content?: unknown }
    const content = value.content
    if (typeof content === 'object' && content !== null) {
      const type = (content as { type?: unknown }).type
      if (typeof type === 'string') return type
    }
    return null
  } catch {
    return null
  }
}

/** "blockfin/precommit" → "precommit". */
export const shortType = (type: string | null): string =>
  type === null ? '—' : type.startsWith('blockfin/') ? type.slice('blockfin/'.length) : type

/** Keeps the latest `capacity` timestamps, dropping the oldest. */
export function pushBounded(times: number[], t: number, capacity: number): void {
  times.push(t)
  if (times.length > capacity) times.splice(0, times.length - capacity)
}
