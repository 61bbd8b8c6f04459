import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import { FEED_ID, runFailingRelay, spawnRelay } from './helpers'

const NETWORK_ID = /^%[A-Za-z0-9+/]{43}=\.sha256$/
const KEY_32 = /^[A-Za-z0-9+/]{43}=$/
const MESSAGENODE_ROLES = [
  'empty-block-producer',
  'block-assembler',
  'precommit-counter',
  'commit-counter',
  'seal-counter',
]

interface Status {
  network: { id: string; key: string }
  relay: { id: string; roles: { role: string; id: string }[] }
  feeds: { id: string; sequence: number }[]
  startedAt: string
}

const modeOf = async (path: string) => (await stat(path)).mode & 0o777

test.describe('the relay shared by the e2e run', () => {
  test('GET /api/network and /api/status describe the network', async ({ request }) => {
    const network = await request.get('/api/network')
    expect(network.status()).toBe(200)
    expect(network.headers()['content-type']).toContain('application/json')
    const body = await network.json()
    expect(body.id).toMatch(NETWORK_ID)
    expect(body.key).toMatch(KEY_32)
    expect(body.name).toBe('local')
    expect(body.genesis).toMatchObject({
      type: 'blockfin/genesis',
      version: 2,
      name: 'local',
      networkKey: body.key,
    })
    expect(body.genesis.messagenodes).toHaveLength(1)
    expect(body.genesis.admins).toHaveLength(1)
    // The relay's own validator, and the admin account that funds admitted participants.
    expect(body.genesis.validators).toHaveLength(1)
    expect(Object.keys(body.genesis.allocations)).toEqual(body.genesis.admins)
    expect(body.genesis.params).toMatchObject({ membershipDelay: 2 })

    const status = (await (await request.get('/api/status')).json()) as Status
    expect(status.network).toEqual({ id: body.id, key: body.key })
    expect(status.relay.id).toBe(body.genesis.messagenodes[0])
    expect(status.relay.roles.map((r) => r.role)).toEqual(MESSAGENODE_ROLES)
    for (const r of status.relay.roles) expect(r.id).toMatch(FEED_ID)
    // One role certificate per Messagenode role on the relay's own feed; after them come the
    // contacts by which its Messagenode follows the validators that connected (other tests' tabs).
    const own = status.feeds.find((f) => f.id === status.relay.id)
    expect(own?.sequence).toBeGreaterThanOrEqual(5)
    const certificates = await (
      await request.get(`/api/feeds/${encodeURIComponent(status.relay.id)}?limit=5`)
    ).json()
    expect(certificates.map((m: { content: { role: string } }) => m.content.role)).toEqual(MESSAGENODE_ROLES)
    expect(Number.isNaN(Date.parse(status.startedAt))).toBe(false)
  })

  test('an unknown API path is a 404 JSON error', async ({ request }) => {
    const response = await request.get('/api/no-such-thing')
    expect(response.status()).toBe(404)
    expect(response.headers()['content-type']).toContain('application/json')
    expect((await response.json()).error.code).toBe('NOT_FOUND')
  })

  test('serves the app: SPA fallback, no-cache service worker, immutable hashed assets', async ({
    request,
  }) => {
    const page = await request.get('/some/deep/link')
    expect(page.status()).toBe(200)
    expect(await page.text()).toContain('<div id="app">')
    const sw = await request.get('/sw.js')
    expect(sw.status()).toBe(200)
    expect(sw.headers()['cache-control']).toBe('no-cache')
    const index = await request.get('/')
    expect(index.headers()['cache-control']).toBe('no-cache')
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(await index.text())
    expect(asset).not.toBeNull()
    const script = await request.get(asset![1]!)
    expect(script.headers()['cache-control']).toContain('immutable')
  })

  test('keeps its key files private (0600) in a private data directory (0700)', async () => {
    const dir = process.env.BLOCKFIN_E2E_DATA_DIR!
    expect(await modeOf(dir)).toBe(0o700)
    expect(await modeOf(join(dir, 'relay-identity.json'))).toBe(0o600)
    expect(await modeOf(join(dir, 'admin-identity.json'))).toBe(0o600)
    expect(await readdir(dir)).toEqual(
      expect.arrayContaining(['network.json', 'relay-identity.json', 'admin-identity.json', 'feeds']),
    )
  })
})

test.describe('relays started by the test', () => {
  let dataDir: string
  test.beforeEach(async () => {
    dataDir = join(await mkdtemp(join(tmpdir(), 'blockfin-e2e-restart-')), 'relay')
  })
  test.afterEach(async () => {
    await rm(join(dataDir, '..'), { recursive: true, force: true })
  })

  test('a restart on the same data directory keeps the network and does not republish roles', async ({
    request,
  }) => {
    const first = await spawnRelay(dataDir)
    const network1 = await (await request.get(`${first.url}/api/network`)).json()
    const status1 = (await (await request.get(`${first.url}/api/status`)).json()) as Status
    expect(first.output()).toContain('created a new network')
    expect(await first.stop()).toBe(0)

    expect(await modeOf(dataDir)).toBe(0o700)
    expect(await modeOf(join(dataDir, 'relay-identity.json'))).toBe(0o600)
    expect(await modeOf(join(dataDir, 'admin-identity.json'))).toBe(0o600)

    const second = await spawnRelay(dataDir)
    try {
      expect(second.output()).not.toContain('created a new network')
      const network2 = await (await request.get(`${second.url}/api/network`)).json()
      const status2 = (await (await request.get(`${second.url}/api/status`)).json()) as Status
      expect(network2).toEqual(network1)
      expect(status2.relay).toEqual(status1.relay)
      // No role certificate is published twice: still one per Messagenode role on its feed.
      const feed = (await (
        await request.get(`${second.url}/api/feeds/${encodeURIComponent(status2.relay.id)}?since=0`)
      ).json()) as { content: { type: string; role?: string } }[]
      const certificates = feed.filter((m) => m.content.type === 'blockfin/role').map((m) => m.content.role)
      expect(certificates).toEqual(MESSAGENODE_ROLES)
    } finally {
      expect(await second.stop()).toBe(0)
    }
  })

  test('refuses to start when a key file is readable by group or others', async () => {
    const relay = await spawnRelay(dataDir)
    expect(await relay.stop(), relay.output()).toBe(0)
    const keyFile = join(dataDir, 'relay-identity.json')
    await chmod(keyFile, 0o644)
    const refused = await runFailingRelay(dataDir)
    expect(refused.code).toBe(1)
    expect(refused.output).toContain(`key file ${keyFile} has mode 0644`)
    expect(refused.output).toContain(`chmod 600 ${keyFile}`)
  })
})
