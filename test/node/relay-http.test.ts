import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type NetworkInfo, openDataDir } from '../../relay/src/data-dir'
import { startHttpServer } from '../../relay/src/http'
import { type Relay, startRelay } from '../../relay/src/relay'
import { openLevelAdapter } from '../../relay/src/store/level-adapter'
import { MESSAGENODE_ROLES } from '../../src/core/identity/roles'
import { createNodeBackend } from '../../src/crypto/node'

const deps = {
  randomBytes: (n: number) => new Uint8Array(randomBytes(n)),
  now: () => new Date(),
  ed25519: createNodeBackend(),
  openFeedAdapter: openLevelAdapter,
}

describe('relay HTTP and start-up', () => {
  let base: string
  let distDir: string
  const running: Relay[] = []
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'blockfin-relay-http-'))
    distDir = join(base, 'dist')
    await mkdir(join(distDir, 'assets'), { recursive: true })
    await writeFile(join(distDir, 'index.html'), '<!doctype html><div id="app"></div>')
    await writeFile(join(distDir, 'sw.js'), '// service worker')
    await writeFile(join(distDir, 'assets', 'index-abc123.js'), 'export {}')
  })
  afterEach(async () => {
    for (const relay of running.splice(0)) await relay.close()
    await rm(base, { recursive: true, force: true })
  })

  const start = async () => {
    const started = await startRelay(
      { dataDir: join(base, 'data'), distDir, host: '127.0.0.1', port: 0 },
      deps,
    )
    if (!started.ok) throw new Error(started.error.code)
    running.push(started.value)
    return { relay: started.value, url: `http://127.0.0.1:${started.value.port}` }
  }

  it('answers /api/network and /api/status', async () => {
    const { relay, url } = await start()
    const network = await (await fetch(`${url}/api/network`)).json()
    expect(network).toEqual({
      id: relay.network.id,
      key: Buffer.from(relay.network.key).toString('base64'),
      name: 'local',
      genesis: relay.network.genesis,
    })
    const status = await (await fetch(`${url}/api/status`)).json()
    expect(status.network).toEqual({ id: network.id, key: network.key })
    expect(status.relay.id).toBe(relay.relayKeys.id)
    expect(status.relay.roles.map((r: { role: string }) => r.role)).toEqual([...MESSAGENODE_ROLES])
    // The relay's own feed (role certificates, contacts), its Messagenode role feeds and the feeds
    // of its own validator (owner and four roles) are all held from the start.
    const held = new Set(status.feeds.map((f: { id: string }) => f.id))
    expect(held.has(relay.relayKeys.id)).toBe(true)
    for (const r of status.relay.roles as { id: string }[]) expect(held.has(r.id)).toBe(true)
    expect(held.has(relay.validatorKeys!.id)).toBe(true)
    expect(status.feeds).toHaveLength(1 + MESSAGENODE_ROLES.length + 1 + 4)
    expect(status.consensus).toMatchObject({ validators: { n: 1, f: 0, q: 1 } })
    expect(status.invite).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?join=[A-Za-z0-9_-]{22}&network=/)
  })

  it('publishes the role certificates once: a restart on the same data directory adds none', async () => {
    const first = await start()
    const certificatesOf = async (relay: Relay) =>
      (await relay.store.range(relay.relayKeys.id, 1)).filter(
        (t) => JSON.parse(t).content.type === 'blockfin/role',
      )
    const certificates = await certificatesOf(first.relay)
    expect(certificates.map((t) => JSON.parse(t).content.role)).toEqual([...MESSAGENODE_ROLES])
    for (const text of certificates)
      expect(JSON.parse(text).content).toMatchObject({
        type: 'blockfin/role',
        ownerid: first.relay.relayKeys.id,
        network: first.relay.network.id,
      })
    await running.pop()!.close()
    const second = await start()
    expect(second.relay.createdNetwork).toBe(false)
    expect(await certificatesOf(second.relay)).toEqual(certificates)
  })

  it('answers unknown API paths and other methods with JSON errors', async () => {
    const { url } = await start()
    const missing = await fetch(`${url}/api/nothing`)
    expect(missing.status).toBe(404)
    expect((await missing.json()).error.code).toBe('NOT_FOUND')
    const post = await fetch(`${url}/api/status`, { method: 'POST', body: '{}' })
    expect(post.status).toBe(405)
    expect((await post.json()).error.code).toBe('METHOD_NOT_ALLOWED')
  })

  it('serves the app with an SPA fallback and cache headers for the service worker and hashed assets', async () => {
    const { url } = await start()
    const deep = await fetch(`${url}/a/deep/link`)
    expect(deep.status).toBe(200)
    expect(await deep.text()).toContain('<div id="app">')
    expect(deep.headers.get('cache-control')).toBe('no-cache')
    expect((await fetch(`${url}/sw.js`)).headers.get('cache-control')).toBe('no-cache')
    expect((await fetch(`${url}/assets/index-abc123.js`)).headers.get('cache-control')).toContain('immutable')
    expect((await fetch(`${url}/missing.png`)).status).toBe(404)
  })

  it('turns a failing handler into a 500 JSON answer and keeps serving', async () => {
    const dir = await openDataDir({ path: join(base, 'data') }, deps)
    if (!dir.ok) throw new Error(dir.error.code)
    const network: NetworkInfo = dir.value.network
    const http = await startHttpServer(
      { distDir, host: '127.0.0.1', port: 0 },
      {
        network,
        relay: { id: dir.value.relayKeys.id, roles: [] },
        feeds: {
          vectorClock() {
            throw new Error('store exploded')
          },
        },
        startedAt: new Date(),
      },
    )
    try {
      const url = `http://127.0.0.1:${http.port}`
      const broken = await fetch(`${url}/api/status`)
      expect(broken.status).toBe(500)
      expect((await broken.json()).error.code).toBe('INTERNAL')
      expect((await fetch(`${url}/api/network`)).status).toBe(200)
    } finally {
      await http.close()
    }
  })

  it('answers GET /api/peers with a random sample of the reserved peers, bounded by limit', async () => {
    const dir = await openDataDir({ path: join(base, 'data') }, deps)
    if (!dir.ok) throw new Error(dir.error.code)
    const reserved = Array.from({ length: 100 }, (_, i) => ({ peerId: `peer-${i}`, addrs: [] }))
    const http = await startHttpServer(
      { distDir, host: '127.0.0.1', port: 0 },
      {
        network: dir.value.network,
        relay: { id: dir.value.relayKeys.id, roles: [] },
        feeds: { vectorClock: () => new Map() },
        startedAt: new Date(),
        p2p: {
          status: async () => {
            throw new Error('not needed here')
          },
          peers: async () => ({ peers: reserved }),
        },
      },
    )
    try {
      const url = `http://127.0.0.1:${http.port}`
      const ids = async (query: string) => {
        const body = (await (await fetch(`${url}/api/peers${query}`)).json()) as {
          peers: { peerId: string }[]
          total: number
        }
        expect(body.total).toBe(100)
        return body.peers.map((p) => p.peerId)
      }
      const first = await ids('')
      expect(first).toHaveLength(64) // the default page
      expect(new Set(first).size).toBe(64)
      for (const id of first) expect(id).toMatch(/^peer-\d+$/)
      // Another request, another sample: tabs asking at once spread over everyone.
      const samples = [first, ...(await Promise.all([1, 2, 3].map(() => ids(''))))]
      expect(new Set(samples.map((x) => x.join())).size).toBeGreaterThan(1)
      expect(await ids('?limit=5')).toHaveLength(5)
      expect(await ids('?limit=256')).toHaveLength(100)
      for (const bad of ['0', '257', '-1', 'x']) {
        const response = await fetch(`${url}/api/peers?limit=${bad}`)
        expect(response.status).toBe(400)
        expect((await response.json()).error.code).toBe('BAD_LIMIT')
      }
    } finally {
      await http.close()
    }
  })

  it('reports a second relay on the same data directory as a typed error', async () => {
    await start()
    const second = await startRelay(
      { dataDir: join(base, 'data'), distDir, host: '127.0.0.1', port: 0 },
      deps,
    )
    expect(!second.ok && second.error.code).toBe('FEED_STORE_UNAVAILABLE')
  })
})
