/**
 * The relay's blocks API on a real HTTP server (port 0), over a block index rebuilt from a real
 * seeded simulator run: one validator's stored messages (as a restarted runtime replays them),
 * then its events. Every 4xx is exercised.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlocksApi } from '../../relay/src/blocks-api'
import type { NetworkInfo } from '../../relay/src/data-dir'
import { type RunningHttpServer, startHttpServer } from '../../relay/src/http'
import { decodeMessage } from '../../src/core/feed/decode'
import type { FeedId } from '../../src/core/identity/ids'
import { BlockIndex, type BlockRecord } from '../../src/runtime/block-index'
import { World } from '../../src/sim/run'

const RETAIN = 3

describe('relay blocks API', () => {
  let server: RunningHttpServer
  let url: string
  let index: BlockIndex
  /** The same input, nothing pruned. */
  let full: BlockIndex
  let validators: FeedId[]
  let decided: Map<number, string>

  beforeAll(async () => {
    const world = new World(0, {})
    const result = await world.run()
    expect(result.violations).toEqual([])
    const node = world.nodes.find((n) => n.kind === 'validator' && !n.behaviour)!
    index = new BlockIndex({
      networkId: world.genesis.networkId,
      setAt: (h) => node.core!.view.setAt(h),
      retainHeights: RETAIN,
    })
    full = new BlockIndex({ networkId: world.genesis.networkId, setAt: (h) => node.core!.view.setAt(h) })
    const store = node.store!
    for (const feed of store.vectorClock().keys())
      for (const text of await store.range(feed, 1)) {
        const d = decodeMessage(text, world.networkKey)
        if (d.ok) for (const i of [index, full]) i.onMessage(d.value, 0)
      }
    for (const i of [index, full]) {
      i.recheck()
      for (const event of node.events) i.onEvent(event, 1)
    }
    decided = world.decided
    validators = [...world.genesis.validators]
    const api = createBlocksApi({
      source: index,
      activeValidators: () => [
        ...(node.core!.view.setAt(node.core!.view.committedHeight + 1)?.validators ?? []),
      ],
    })
    server = await startHttpServer(
      { distDir: '/nonexistent', host: '127.0.0.1', port: 0 },
      {
        network: {
          id: world.genesis.networkId,
          key: world.networkKey,
          name: 'sim',
          genesis: {} as NetworkInfo['genesis'],
        } as NetworkInfo,
        relay: { id: node.owner, roles: [] },
        feeds: { vectorClock: () => new Map() },
        startedAt: new Date(0),
        blocks: api,
      },
    )
    url = `http://127.0.0.1:${server.port}`
  }, 60_000)

  afterAll(async () => {
    await server?.close()
  })

  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${url}${path}`, init)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    return { status: res.status, body: await res.json() }
  }

  it('GET /api/blocks/<height>: the decided block with its transactions and QCs', async () => {
    const top = index.heights().committed
    expect(top).toBeGreaterThan(RETAIN + 1)
    const { status, body } = await get(`/api/blocks/${top}`)
    expect(status).toBe(200)
    const record = body as BlockRecord
    expect(record.height).toBe(top)
    expect(record.block).toBe(decided.get(top))
    expect(record.stage).toBe('sealed')
    expect(record.qcs.commit?.check.ok).toBe(true)
    expect(record.qcs.seal?.votes.length).toBeGreaterThan(0)
    expect(JSON.parse(JSON.stringify(index.get(top)))).toEqual(record)
  })

  it('GET /api/blocks?from=&to= and the latest blocks', async () => {
    const top = index.heights().committed
    const { status, body } = await get(`/api/blocks?from=1&to=${top}`)
    expect(status).toBe(200)
    expect(body.heights).toEqual(index.heights())
    expect(body.oldest).toBe(top - RETAIN + 1)
    expect(body.blocks.map((b: BlockRecord) => b.height)).toEqual([top - 2, top - 1, top])
    // Replayed in store order (QCs before the votes they link, feed by feed), every QC still checks.
    for (const b of body.blocks as BlockRecord[])
      for (const stage of ['precommit', 'commit', 'seal'] as const) expect(b.qcs[stage]?.check.ok).toBe(true)
    const latest = await get('/api/blocks?limit=2')
    expect(latest.body.blocks.map((b: BlockRecord) => b.height)).toEqual([top, top - 1])
    expect((await get('/api/blocks')).body.blocks).toHaveLength(RETAIN)
    const wide = await get(`/api/blocks?from=${top}&to=${top + 99}`)
    expect(wide.status).toBe(200)
    expect(wide.body.blocks.map((b: BlockRecord) => b.height)).toEqual([top])
  })

  it('store-order replay (QCs before the votes they link, feed by feed): every QC of every height checks', () => {
    const top = full.heights().committed
    expect(full.range(1, top)).toHaveLength(top)
    for (const b of full.range(1, top)) {
      expect(b.block).toBe(decided.get(b.height))
      for (const stage of ['precommit', 'commit', 'seal'] as const) expect(b.qcs[stage]?.check.ok).toBe(true)
    }
    // Once every stage has a checked QC, no vote is held any more.
    expect((full as unknown as { votes: Map<string, unknown> }).votes.size).toBeLessThan(20)
  })

  it('answers every bad request with a typed JSON error', async () => {
    const top = index.heights().committed
    const cases: [string, number, Record<string, unknown>][] = [
      ['/api/blocks/0', 400, { code: 'BAD_HEIGHT', value: '0' }],
      ['/api/blocks/-1', 400, { code: 'BAD_HEIGHT', value: '-1' }],
      ['/api/blocks/1.5', 400, { code: 'BAD_HEIGHT' }],
      ['/api/blocks/abc', 400, { code: 'BAD_HEIGHT' }],
      ['/api/blocks/12/x', 400, { code: 'BAD_HEIGHT' }],
      ['/api/blocks/99999999999999999', 400, { code: 'BAD_HEIGHT' }],
      ['/api/blocks?from=x&to=3', 400, { code: 'BAD_RANGE', param: 'from', value: 'x' }],
      ['/api/blocks?from=1&to=', 400, { code: 'BAD_RANGE', param: 'to' }],
      ['/api/blocks?from=1', 400, { code: 'BAD_RANGE', param: 'to' }],
      ['/api/blocks?to=4', 400, { code: 'BAD_RANGE', param: 'from' }],
      ['/api/blocks?from=5&to=4', 400, { code: 'BAD_RANGE', param: 'to' }],
      ['/api/blocks?limit=0', 400, { code: 'BAD_RANGE', param: 'limit' }],
      ['/api/blocks?limit=101', 400, { code: 'BAD_RANGE', param: 'limit' }],
      ['/api/blocks?from=1&to=101', 400, { code: 'RANGE_TOO_LARGE', from: 1, to: 101, max: 100 }],
      ['/api/blocks/1', 404, { code: 'BLOCK_PRUNED', height: 1, oldest: top - RETAIN + 1 }],
      [`/api/blocks/${top + 1000}`, 404, { code: 'BLOCK_NOT_FOUND', height: top + 1000, committed: top }],
    ]
    for (const [path, status, error] of cases) {
      const res = await get(path)
      expect(res.status, path).toBe(status)
      expect(res.body.error, path).toMatchObject(error)
      expect(typeof res.body.error.message).toBe('string')
    }
    const post = await get('/api/blocks/1', { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.body.error.code).toBe('METHOD_NOT_ALLOWED')
  })

  it('consensusStatus(): heights per stage and the active validator set', () => {
    const api = createBlocksApi({ source: index, activeValidators: () => [...validators].reverse() })
    expect(api.consensusStatus()).toEqual({
      heights: index.heights(),
      oldest: index.oldestHeight,
      activeValidators: [...validators].sort(),
    })
  })

  it('without a blocks dep, /api/blocks is not an API', async () => {
    const bare = await startHttpServer(
      { distDir: '/nonexistent', host: '127.0.0.1', port: 0 },
      {
        network: { id: '%x', key: new Uint8Array(32), name: 'x', genesis: {} } as unknown as NetworkInfo,
        relay: { id: validators[0]!, roles: [] },
        feeds: { vectorClock: () => new Map() },
        startedAt: new Date(0),
      },
    )
    try {
      const res = await fetch(`http://127.0.0.1:${bare.port}/api/blocks/1`)
      expect(res.status).toBe(404)
      expect((await res.json()).error.code).toBe('NOT_FOUND')
    } finally {
      await bare.close()
    }
  })
})
