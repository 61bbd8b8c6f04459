import type { FeedId, MessageId } from '../identity/ids'
import type { ForkEvidence } from './evidence'

/**
 * Every reason a feed message is refused. Each carries the data a caller needs to log, count
 * (metrics by code) or act on (a fork's evidence) without parsing a string.
 */
export type FeedError =
  | { code: 'MESSAGE_TOO_LARGE'; size: number; limit: number }
  | { code: 'MALFORMED_JSON'; reason: string }
  | { code: 'NOT_AN_OBJECT' }
  | { code: 'WRONG_KEY_ORDER'; keys: string[] }
  | { code: 'MISSING_FIELD'; field: string }
  | { code: 'INVALID_FIELD'; field: string; reason: string }
  | { code: 'NON_CANONICAL_ENCODING' }
  | { code: 'INVALID_CONTENT'; reason: string }
  | { code: 'SIGNATURE_INVALID'; author: FeedId; sequence: number }
  | { code: 'UNKNOWN_AUTHOR'; author: FeedId }
  | { code: 'FEED_GAP'; author: FeedId; expected: number; sequence: number }
  | { code: 'FEED_DUPLICATE'; author: FeedId; sequence: number; id: MessageId }
  | { code: 'FEED_FORK'; author: FeedId; sequence: number; evidence: ForkEvidence }

export type FeedErrorCode = FeedError['code']
