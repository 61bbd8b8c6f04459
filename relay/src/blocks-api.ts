/**
 * The relay's blocks API (docs/relay-api.md, "Blocks"): `GET /api/blocks/<height>` and
 * `GET /api/blocks?from=&to=` over a block index (src/runtime/block-index.ts), plus the consensus
 * part of `/api/status`. Pure request → response: the HTTP server (http.ts) sends what `handle`
 * returns, so the errors have the API's one shape `{error: {code, message, ...data}}`.
 *
 * Heights older than the index's window are answered `404 BLOCK_PRUNED` with the oldest height
 * still held (the relay does not re-derive them from its store yet).
 */
import type { FeedId } from '../../src/core/identity/ids'
import {
  type BlockRecord,
  type BlockSource,
  MAX_BLOCK_RANGE,
  type StageHeights,
} from '../../src/runtime/block-index'

export type BlocksErrorCode =
  | 'BAD_HEIGHT'
  | 'BAD_RANGE'
  | 'RANGE_TOO_LARGE'
  | 'BLOCK_NOT_FOUND'
  | 'BLOCK_PRUNED'

export type BlocksError =
  | { code: 'BAD_HEIGHT'; message: string; value: string }
  | { code: 'BAD_RANGE'; message: string; param: 'from' | 'to' | 'limit'; value: string }
  | { code: 'RANGE_TOO_LARGE'; message: string; from: number; to: number; max: number }
  | { code: 'BLOCK_NOT_FOUND'; message: string; height: number; committed: number }
  | { code: 'BLOCK_PRUNED'; message: string; height: number; oldest: number }

/** GET /api/blocks?from=&to= (or without both: the latest `limit`, default 20). */
export interface BlocksResponse {
  heights: StageHeights
  /** The lowest height held in full; lower ones are pruned. */
  oldest: number
  /** Held records of the range, ascending (latest: descending); heights not held are absent. */
  blocks: readonly BlockRecord[]
}

/** The consensus part of GET /api/status. */
export interface ConsensusStatus {
  heights: StageHeights
  oldest: number
  /** Owners in the validator set of the next height, sorted. */
  activeValidators: FeedId[]
}

export type BlocksReply =
  | { status: 200; body: BlockRecord | BlocksResponse }
  | { status: 400 | 404; body: { error: BlocksError } }

export interface BlocksApi {
  /** Answers a GET under /api/blocks: `pathname` is the whole path, `params` its query. */
  handle(pathname: string, params: URLSearchParams): BlocksReply
  consensusStatus(): ConsensusStatus
}

export interface BlocksApiDeps {
  readonly source: BlockSource
  /** The validator set the consensus counts now (the runtime's `view.setAt(committed + 1)`). */
  activeValidators(): FeedId[]
}

export const BLOCKS_PATH = '/api/blocks'
export const DEFAULT_LATEST = 20

const HEIGHT = /^[1-9][0-9]{0,15}$/
const parseHeight = (text: string): number | undefined =>
  HEIGHT.test(text) && Number(text) <= Number.MAX_SAFE_INTEGER ? Number(text) : undefined

const fail = (status: 400 | 404, error: BlocksError): BlocksReply => ({ status, body: { error } })

export function createBlocksApi(deps: BlocksApiDeps): BlocksApi {
  const { source } = deps

  const one = (text: string): BlocksReply => {
    const height = parseHeight(text)
    if (height === undefined)
      return fail(400, {
        code: 'BAD_HEIGHT',
        message: `the height must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`,
        value: text.slice(0, 40),
      })
    const found = source.lookup(height)
    if (found.status === 'found') return { status: 200, body: found.record }
    if (found.status === 'pruned')
      return fail(404, {
        code: 'BLOCK_PRUNED',
        message: `height ${height} is older than the ${found.oldest} this relay keeps`,
        height,
        oldest: found.oldest,
      })
    const committed = source.heights().committed
    return fail(404, {
      code: 'BLOCK_NOT_FOUND',
      message: `no block at height ${height} here (committed: ${committed})`,
      height,
      committed,
    })
  }

  const many = (params: URLSearchParams): BlocksReply => {
    const read = (param: 'from' | 'to' | 'limit'): number | BlocksReply | undefined => {
      const text = params.get(param)
      if (text === null) return undefined
      const value = parseHeight(text)
      if (value !== undefined) return value
      return fail(400, {
        code: 'BAD_RANGE',
        message: `${param} must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`,
        param,
        value: text.slice(0, 40),
      })
    }
    const from = read('from')
    const to = read('to')
    const limit = read('limit')
    for (const v of [from, to, limit]) if (typeof v === 'object') return v
    const base = { heights: source.heights(), oldest: source.oldestHeight }
    if (from === undefined && to === undefined) {
      const n = (limit as number | undefined) ?? DEFAULT_LATEST
      if (n > MAX_BLOCK_RANGE)
        return fail(400, {
          code: 'BAD_RANGE',
          message: `limit must be from 1 to ${MAX_BLOCK_RANGE}`,
          param: 'limit',
          value: String(n),
        })
      return { status: 200, body: { ...base, blocks: source.latest(n) } }
    }
    if (from === undefined || to === undefined)
      return fail(400, {
        code: 'BAD_RANGE',
        message: 'give both from and to (or neither, for the latest blocks)',
        param: from === undefined ? 'from' : 'to',
        value: '',
      })
    const f = from as number
    const t = to as number
    if (t < f)
      return fail(400, {
        code: 'BAD_RANGE',
        message: `to (${t}) is below from (${f})`,
        param: 'to',
        value: String(t),
      })
    if (t - f + 1 > MAX_BLOCK_RANGE)
      return fail(400, {
        code: 'RANGE_TOO_LARGE',
        message: `at most ${MAX_BLOCK_RANGE} heights per request (to - from <= ${MAX_BLOCK_RANGE - 1})`,
        from: f,
        to: t,
        max: MAX_BLOCK_RANGE,
      })
    return { status: 200, body: { ...base, blocks: source.range(f, t) } }
  }

  return {
    handle(pathname, params) {
      if (pathname === BLOCKS_PATH || pathname === `${BLOCKS_PATH}/`) return many(params)
      return one(pathname.slice(BLOCKS_PATH.length + 1))
    },
    consensusStatus: () => ({
      heights: source.heights(),
      oldest: source.oldestHeight,
      activeValidators: [...deps.activeValidators()].sort(),
    }),
  }
}
