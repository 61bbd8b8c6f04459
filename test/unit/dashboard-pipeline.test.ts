/**
 * The dashboard's block pipeline and chart series: rows from block records (signatures against
 * the quorum of the set at each height, time per stage), paging over heights, missed seals, and
 * the buckets of the throughput, latency and activity charts.
 */
import { describe, expect, it } from 'vitest'
import { messageTypeOf, pushBounded, shortType } from '../../src/app/dashboard/feeds'
import { formatDuration, pageOfHeights, pipelineRow, reachesQuorum } from '../../src/app/dashboard/pipeline'
import {
  activityColumns,
  BoundedLog,
  latencyColumns,
  missedSeal,
  pointsOf,
  sealedSample,
  throughputColumns,
} from '../../src/app/dashboard/series'
import { memberSet } from '../../src/core/consensus/membership'
import type { FeedId } from '../../src/core/identity/ids'
import type { BlockRecord, QcRecord } from '../../src/runtime/block-index'

const A = '@QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=.ed25519' as FeedId
const B = '@QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=.ed25519' as FeedId
const C = '@Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M=.ed25519' as FeedId
const D = '@RERERERERERERERERERERERERERERERERERERERERE=.ed25519' as FeedId
const set = memberSet([A, B, C, D], [])

function qc(stage: QcRecord['stage'], votes: number, signers: FeedId[] | null): QcRecord {
  return {
    stage,
    height: 5,
    round: 0,
    block: '&b' as never,
    stateRoot: null,
    resultsRoot: null,
    votes: Array.from({ length: votes }, (_, i) => `%v${i}` as never),
    sigRoot: 'x' as never,
    message: '%q' as never,
    counter: '@c' as never,
    messagenode: null,
    check: signers ? { ok: true, signers } : { ok: false, code: 'QC_VOTE_MISSING' },
    at: 0,
  }
}

function record(height: number, over: Partial<BlockRecord> = {}): BlockRecord {
  return {
    height,
    block: '&b' as never,
    round: 0,
    decidedBy: 'event',
    header: null,
    assembled: null,
    proposals: 1,
    stage: 'sealed',
    at: { assembled: 1_000, precommitted: 1_300, committed: 1_700, sealed: 2_600, executed: 2_000 },
    transactions: [{}, {}, {}] as never,
    missing: [],
    complete: true,
    txRootOk: true,
    stateRoot: null,
    resultsRoot: null,
    executed: true,
    qcs: {
      precommit: qc('precommit', 3, [A, B, C]),
      commit: qc('commit', 4, [A, B, C, D]),
      seal: qc('seal', 3, [A, B, C]),
    },
    ...over,
  }
}

describe('pipeline rows', () => {
  it('counts signatures per stage against the quorum of the set at the height, and times each stage', () => {
    const row = pipelineRow(record(5), () => set)
    expect(set.q).toBe(3)
    expect(row.signatures.precommit).toEqual({ votes: 3, quorum: 3, checked: true, problem: null })
    expect(row.signatures.commit?.votes).toBe(4)
    expect(reachesQuorum(row.signatures.seal)).toBe(true)
    expect(row.transactions).toBe(3)
    expect(row.durations).toEqual({ precommitted: 300, committed: 400, sealed: 900 })
    expect(row.latency).toBe(1_600)
  })

  it('says what is not known: no QC, an unknown set, an unchecked QC, an undecided height', () => {
    const row = pipelineRow(
      record(6, {
        stage: 'committed',
        qcs: { precommit: qc('precommit', 3, null), commit: null, seal: null },
        at: { assembled: 1_000, precommitted: 1_200, committed: 1_500, sealed: null, executed: null },
      }),
      () => undefined,
    )
    expect(row.signatures.precommit).toEqual({
      votes: 3,
      quorum: null,
      checked: false,
      problem: 'QC_VOTE_MISSING',
    })
    expect(reachesQuorum(row.signatures.precommit)).toBe(false)
    expect(row.signatures.seal).toBeNull()
    expect(row.latency).toBeNull()
    const undecided = pipelineRow(record(7, { block: null, stage: 'assembled', transactions: [] }), () => set)
    expect(undecided.transactions).toBeNull()
  })

  it('pages heights newest first, clamped to what the index holds', () => {
    expect(pageOfHeights(0, 1, 0, 20)).toEqual({ from: 1, to: 0, page: 0, pages: 1 })
    expect(pageOfHeights(45, 1, 0, 20)).toEqual({ from: 26, to: 45, page: 0, pages: 3 })
    expect(pageOfHeights(45, 1, 2, 20)).toEqual({ from: 1, to: 5, page: 2, pages: 3 })
    expect(pageOfHeights(45, 1, 9, 20).page).toBe(2)
    // Thousands of heights, the oldest pruned: still at most a page of rows.
    const p = pageOfHeights(5_000, 4_001, 49, 20)
    expect(p).toEqual({ from: 4_001, to: 4_020, page: 49, pages: 50 })
  })

  it('formats durations', () => {
    expect(formatDuration(null)).toBe('—')
    expect(formatDuration(850)).toBe('850 ms')
    expect(formatDuration(2_440)).toBe('2.4 s')
    expect(formatDuration(185_000)).toBe('3 min 05 s')
  })
})

describe('series', () => {
  it('a sealed sample and missed seals (in the set, checked QC, not among the signers)', () => {
    expect(sealedSample(record(5))).toEqual({ height: 5, sealedAt: 2_600, transactions: 3, latency: 1_600 })
    expect(sealedSample(record(5, { stage: 'committed' }))).toBeUndefined()
    expect(missedSeal(record(5), D, () => set)).toBe(true)
    expect(missedSeal(record(5), A, () => set)).toBe(false)
    const outsider = '@Tk9QRQ==.ed25519' as FeedId
    expect(missedSeal(record(5), outsider, () => set)).toBeNull()
    expect(missedSeal(record(5), D, () => undefined)).toBeNull()
    expect(
      missedSeal(
        record(5, { qcs: { precommit: null, commit: null, seal: qc('seal', 3, null) } }),
        D,
        () => set,
      ),
    ).toBeNull()
  })

  it('throughput: sealed transactions per second in 5-second buckets ending now', () => {
    const now = 100_000
    const samples = [
      { height: 1, sealedAt: 96_000, transactions: 10, latency: 500 },
      { height: 2, sealedAt: 97_000, transactions: 5, latency: 700 },
      { height: 3, sealedAt: 91_000, transactions: 20, latency: null },
      { height: 4, sealedAt: 1_000, transactions: 99, latency: 1 }, // too old
    ]
    const columns = throughputColumns(samples, now, 5_000, 3)
    const [x, y] = columns
    expect(x).toEqual([90, 95, 100])
    expect(y).toEqual([0, 4, 3])
    const [lx, ly] = latencyColumns(samples)
    expect(lx).toEqual([1, 96, 97])
    expect(ly).toEqual([0.001, 0.5, 0.7])
    expect(pointsOf(columns)).toBe(2)
  })

  it('activity: votes and missed seals per minute', () => {
    const now = 600_000
    const [x, votes, missed] = activityColumns([541_000, 550_000, 599_999, 480_001], [590_000], now, 2)
    expect(x).toEqual([540, 600])
    expect(votes).toEqual([1, 3])
    expect(missed).toEqual([null, 1])
  })

  it('a bounded log keeps the highest keys; vote times stay bounded', () => {
    const log = new BoundedLog<number>(3)
    for (const h of [5, 1, 4, 2, 3]) log.put(h, h * 10)
    expect(log.values()).toEqual([30, 40, 50])
    log.put(4, 41)
    log.delete(3)
    expect(log.values()).toEqual([41, 50])
    const times: number[] = []
    for (let i = 0; i < 10; i++) pushBounded(times, i, 4)
    expect(times).toEqual([6, 7, 8, 9])
  })

  it('reads a role feed message type', () => {
    expect(messageTypeOf(JSON.stringify({ content: { type: 'blockfin/precommit' } }))).toBe(
      'blockfin/precommit',
    )
    expect(messageTypeOf('not json')).toBeNull()
    expect(messageTypeOf(undefined)).toBeNull()
    expect(shortType('blockfin/seal')).toBe('seal')
    expect(shortType(null)).toBe('—')
  })
})
