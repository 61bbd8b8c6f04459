import type { Ed25519Backend } from '../crypto/ed25519'
import type { FeedId } from '../identity/ids'
import { err, ok, type Result } from '../result'
import { decodeMessage } from './decode'

/**
 * Proof that an author signed two conflicting histories, checkable by anyone with the network key
 * and nothing else:
 * - `same-sequence`: two different messages with the same author and sequence;
 * - `previous-mismatch`: a message at `sequence` and one at `sequence + 1` whose `previous` is not
 *   the first one's id (so a different message at `sequence` exists).
 */
export interface ForkEvidence {
  type: 'blockfin/fork-evidence'
  version: 1
  kind: 'same-sequence' | 'previous-mismatch'
  author: FeedId
  sequence: number
  /** The two messages exactly as signed. */
  messages: [string, string]
}

export type EvidenceError = { code: 'EVIDENCE_INVALID'; reason: string }

/** Evidence arrives from other nodes: check its shape before anything else. */
function isForkEvidenceShape(value: unknown): value is ForkEvidence {
  if (typeof value !== 'object' || value === null) return false
  const e = value as Record<string, unknown>
  return (
    Array.isArray(e.messages) &&
    e.messages.length === 2 &&
    e.messages.every((m) => typeof m === 'string') &&
    typeof e.author === 'string' &&
    typeof e.sequence === 'number'
  )
}

export async function verifyForkEvidence(
  evidence: unknown,
  networkKey: Uint8Array | null,
  ed25519: Ed25519Backend,
): Promise<Result<{ author: FeedId; sequence: number }, EvidenceError>> {
  if (!isForkEvidenceShape(evidence))
    return err({ code: 'EVIDENCE_INVALID', reason: 'not a fork evidence record' })
  if (evidence.type !== 'blockfin/fork-evidence' || evidence.version !== 1)
    return err({ code: 'EVIDENCE_INVALID', reason: 'unknown evidence type or version' })
  const a = decodeMessage(evidence.messages[0], networkKey)
  const b = decodeMessage(evidence.messages[1], networkKey)
  if (!a.ok || !b.ok) return err({ code: 'EVIDENCE_INVALID', reason: 'a message does not decode' })
  const [ma, mb] = [a.value.value, b.value.value]
  if (ma.author !== evidence.author || mb.author !== evidence.author)
    return err({ code: 'EVIDENCE_INVALID', reason: 'messages are not both by the accused author' })
  if (ma.sequence !== evidence.sequence) return err({ code: 'EVIDENCE_INVALID', reason: 'sequence mismatch' })
  if (evidence.kind === 'same-sequence') {
    if (mb.sequence !== ma.sequence || a.value.id === b.value.id)
      return err({ code: 'EVIDENCE_INVALID', reason: 'not two different messages at one sequence' })
  } else if (evidence.kind === 'previous-mismatch') {
    if (mb.sequence !== ma.sequence + 1 || mb.previous === a.value.id)
      return err({ code: 'EVIDENCE_INVALID', reason: 'the second message does extend the first' })
  } else {
    return err({ code: 'EVIDENCE_INVALID', reason: 'unknown evidence kind' })
  }
  const [va, vb] = await ed25519.verifyBatch([a.value.verify, b.value.verify])
  if (!va || !vb) return err({ code: 'EVIDENCE_INVALID', reason: 'a signature does not verify' })
  return ok({ author: evidence.author, sequence: evidence.sequence })
}
