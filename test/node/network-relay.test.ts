/**
 * The relay's network side in one process with real libp2p connections: headless validators
 * replicating through it, its persisted peer key, the HTTP API (feeds, messages as signed, status,
 * metrics, and every 4xx), and hostile peers disconnected while the others keep being served.
 */
import '../../src/node/polyfills'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createNodePeer, type NodePeer } from '../../relay/src/node-peer'
import { type Relay, startRelay } from '../../relay/src/relay'
import { openLevelAdapter } from '../../relay/src/store/level-adapter'
import { type HeadlessValidator, startHeadlessValidator } from '../../relay/src/validator'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { createNodeBackend } from '../../src/crypto/node'
import { createStreamChannel } from '../../src/net/libp2p/stream-channel'
import { REPLICATION_PROTOCOL } from '../../src/net/replication/codec'
import { HostilePeer, signChain } from '../net/hostile-peer'

const ed25519 = createNodeBackend()
const relayDeps = {
  randomBytes: (n: number) => new Uint8Array(randomBytes(n)),
  now: () => new Date(),
  ed25519,
  openFeedAdapter: openLevelAdapter,
}
const validatorDeps = {
  ed25519,
  randomBytes: (n: number) => new Uint8Array(randomBytes(n)),
  now: () => Date.now(),
  fetch: (...a: Parameters<typeof fetch>) => fetch(...a),
  openFeedAdapter: openLevelAdapter,
}

async function until(condition: () => boolean | Promise<boolean>, what: string, tries = 3000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`never happened: ${what}`)
}

describe('relay network', () => {
  let base: string
  let distDir: string
  const relays: Relay[] = []
  const validators: HeadlessValidator[] = []
  const peers: NodePeer[] = []

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'blockfin-relay-net-'))
    distDir = join(base, 'dist')
    await mkdir(distDir, { recursive: true })
    await writeFile(join(distDir, 'index.html'), '<!doctype html><div id="app"></div>')
  })
  afterEach(async () => {
    for (const p of peers.splice(0)) await p.stop()
    for (const v of validators.splice(0)) await v.stop()
    for (const r of relays.splice(0)) await r.close()
    await rm(base, { recursive: true, force: true })
  })

  const start = async (name = 'relay') => {
    const started = await startRelay(
      { dataDir: join(base, name), distDir, host: '127.0.0.1', port: 0, tcpPort: 0 },
      relayDeps,
    )
    if (!started.ok) throw new Error(JSON.stringify(started.error))
    relays.push(started.value)
    return { relay: started.value, url: `http://127.0.0.1:${started.value.port}` }
  }
  const validator = async (url: string, name: string) => {
    const started = await startHeadlessValidator({ dataDir: join(base, name), relay: url }, validatorDeps)
    if (!started.ok) throw new Error(JSON.stringify(started.error))
    validators.push(started.value)
    return started.value
  }
  const publish = async (v: HeadlessValidator, count: number, text = 'message') => {
    for (let i = 0; i < count; i++) {
      const o = await v.publish({ type: 'blockfin/test', text: `${text} ${i} — ünïcödé` })
      if (!o.ok) throw new Error(o.error.code)
    }
  }
  const tcpAddr = (relay: Relay) => multiaddr(relay.net!.p2p.multiaddrs().find((a) => !a.includes('/ws'))!)

  it('keeps its peer key in the data directory (0600): same peer id after a restart, refused when readable by others', async () => {
    const first = await start()
    const peerId = first.relay.net!.p2p.peerId
    const keyFile = join(first.relay.dataDir, 'peer-key.json')
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
    await relays.pop()!.close()
    const second = await start()
    expect(second.relay.net!.p2p.peerId).toBe(peerId)
    await relays.pop()!.close()
    await chmod(keyFile, 0o644)
    const refused = await startRelay(
      { dataDir: join(base, 'relay'), distDir, host: '127.0.0.1', port: 0, tcpPort: 0 },
      relayDeps,
    )
    expect(refused.ok).toBe(false)
    if (!refused.ok)
      expect(refused.error).toMatchObject({ code: 'KEY_FILE_PERMISSIONS', path: keyFile, mode: '0644' })
  })

  it('replicates validators through it and serves their feeds exactly as signed', async () => {
    const { relay, url } = await start()
    const a = await validator(url, 'a')
    const b = await validator(url, 'b')
    // Each validator's feed begins with the role certificates its consensus runtime published.
    await publish(a, 120)
    await publish(b, 3)
    const aHead = a.store.head(a.id)!.sequence
    const bHead = b.store.head(b.id)!.sequence
    expect(aHead).toBe(120 + 4)
    await until(
      () => relay.store.head(a.id)?.sequence === aHead && relay.store.head(b.id)?.sequence === bHead,
      'relay has both',
    )
    // Through the relay's contacts, each validator replicates the other.
    await until(
      () => b.store.head(a.id)?.sequence === aHead && a.store.head(b.id)?.sequence === bHead,
      'validators have each other',
    )

    const feeds = (await (await fetch(`${url}/api/feeds`)).json()) as {
      feeds: { id: string; owner: string; role: string | null; sequence: number }[]
    }
    // Its role certificates make it a validator owner.
    expect(feeds.feeds).toContainEqual({ id: a.id, owner: a.id, role: 'validator', sequence: aHead })
    expect(feeds.feeds).toContainEqual({
      id: relay.relayKeys.id,
      owner: relay.relayKeys.id,
      role: 'messagenode',
      sequence: expect.any(Number),
    })

    // The body is the stored texts joined: byte for byte what the author signed.
    const response = await fetch(`${url}/api/feeds/${encodeURIComponent(a.id)}?since=${aHead - 20}`)
    expect(response.status).toBe(200)
    expect(response.headers.get('x-feed-sequence')).toBe(String(aHead))
    expect(response.headers.get('x-next-since')).toBe(String(aHead))
    const body = await response.text()
    expect(body).toBe(`[${(await a.store.range(a.id, aHead - 19, aHead)).join(',')}]`)
    expect((JSON.parse(body) as { sequence: number }[]).map((m) => m.sequence)).toEqual(
      Array.from({ length: 20 }, (_, i) => aHead - 19 + i),
    )
    const paged = (await (
      await fetch(`${url}/api/feeds/${encodeURIComponent(a.id)}?since=0&limit=7`)
    ).json()) as unknown[]
    expect(paged).toHaveLength(7)
    expect(await (await fetch(`${url}/api/feeds/${encodeURIComponent(a.id)}?since=${aHead}`)).json()).toEqual(
      [],
    )

    const status = (await (await fetch(`${url}/api/status`)).json()) as {
      p2p: {
        peerId: string
        multiaddrs: string[]
        peers: { peerId: string; transports: string[] }[]
        follows: { all: boolean; feeds: string[] }
      }
    }
    expect(status.p2p.peerId).toBe(relay.net!.p2p.peerId)
    expect(status.p2p.multiaddrs.some((m) => m.includes('/ws/p2p/'))).toBe(true)
    expect(status.p2p.multiaddrs.some((m) => m.includes('/tcp/') && !m.includes('/ws'))).toBe(true)
    expect(status.p2p.peers.map((p) => p.peerId).sort()).toEqual([a.peerId, b.peerId].sort())
    expect(status.p2p.follows.all).toBe(true)
    expect(status.p2p.follows.feeds).toEqual(expect.arrayContaining([a.id, b.id]))

    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toMatch(/blockfin_relay_messages_received_total \d+/)
    expect(Number(/blockfin_relay_messages_stored_total (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(123)
    expect(metrics).toMatch(/blockfin_relay_connections\{transport="tcp",direction="inbound"\} 2/)
    expect(metrics).toMatch(/blockfin_relay_replication_bytes_total\{direction="in"\} \d+/)
  })

  it('answers bad requests with 4xx JSON errors and keeps serving', async () => {
    const { url } = await start()
    const known = encodeURIComponent(relays[0]!.relayKeys.id)
    const cases: [string, number, string][] = [
      ['/api/feeds/not-a-feed', 400, 'BAD_FEED_ID'],
      ['/api/feeds/%E0%A4%A', 400, 'BAD_FEED_ID'],
      [`/api/feeds/${encodeURIComponent('%abc.sha256')}`, 400, 'BAD_FEED_ID'],
      [`/api/feeds/${known}?since=-1`, 400, 'BAD_SINCE'],
      [`/api/feeds/${known}?since=1.5`, 400, 'BAD_SINCE'],
      [`/api/feeds/${known}?since=abc`, 400, 'BAD_SINCE'],
      [`/api/feeds/${known}?since=99999999999999999999`, 400, 'BAD_SINCE'],
      [`/api/feeds/${known}?limit=0`, 400, 'BAD_LIMIT'],
      [`/api/feeds/${known}?limit=100000`, 400, 'BAD_LIMIT'],
      [
        `/api/feeds/${encodeURIComponent(keyPairFromSeed(new Uint8Array(32).fill(9)).id)}`,
        404,
        'FEED_NOT_FOUND',
      ],
      ['/api/nothing-here', 404, 'NOT_FOUND'],
    ]
    for (const [path, status, code] of cases) {
      const response = await fetch(`${url}${path}`)
      expect({ path, status: response.status }).toEqual({ path, status })
      expect(response.headers.get('content-type')).toContain('application/json')
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code)
    }
    const post = await fetch(`${url}/api/feeds/${known}`, { method: 'POST', body: '[]' })
    expect(post.status).toBe(405)
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED')
    expect((await fetch(`${url}/metrics`, { method: 'DELETE' })).status).toBe(405)
    expect((await fetch(`${url}/api/feeds/${known}`)).status).toBe(200)
  })

  it('disconnects hostile peers over real libp2p connections and keeps serving the others', async () => {
    const { relay, url } = await start()
    const good = await validator(url, 'good')
    await publish(good, 5, 'before')
    const goodHead = good.store.head(good.id)!.sequence
    await until(() => relay.store.head(good.id)?.sequence === goodHead, 'relay has the good feed')

    const hostile = async () => {
      const peer = await createNodePeer({}, {})
      peers.push(peer)
      const connection = await peer.dial(tcpAddr(relay))
      const stream = await connection.newStream(REPLICATION_PROTOCOL)
      const channel = createStreamChannel({ peer: relay.net!.p2p.peerId }, { stream })
      return { peer, connection, stream, h: new HostilePeer(channel, { networkId: relay.network.id }) }
    }
    const disconnected = (peer: NodePeer) => () => peer.getConnections().length === 0

    // 1. Another network's hello.
    const wrong = await hostile()
    await wrong.h.hello([], { net: '%b3RoZXItbmV0d29yay1pZC1mb3ItdGVzdHMtb25seSE=.sha256' })
    await until(disconnected(wrong.peer), 'wrong network disconnected')
    expect(wrong.h.errorCodes()).toContain('WRONG_NETWORK')
    // ... and refused for a while: a new connection fails or is closed during its upgrade.
    const again = await wrong.peer.dial(tcpAddr(relay)).catch(() => undefined)
    await until(() => again === undefined || again.status !== 'open', 'a banned peer is refused')

    // 2. Garbage frames.
    const garbage = await hostile()
    for (let i = 0; i < 30 && garbage.connection.status === 'open'; i++)
      await garbage.h.sendRaw(new TextEncoder().encode(`{not json ${i}`)).catch(() => undefined)
    await until(disconnected(garbage.peer), 'garbage sender disconnected')

    // 3. Forged messages pushed without being asked.
    const forger = await hostile()
    await forger.h.hello()
    const keys = keyPairFromSeed(new Uint8Array(32).fill(7))
    const chain = await signChain(keys, 3, { networkKey: relay.network.key })
    for (let i = 0; i < 30 && forger.connection.status === 'open'; i++)
      await forger.h
        .msgs(1000 + i, keys.id, 1, [chain[0]!.replace('chain 0', 'chain X')])
        .catch(() => undefined)
    await until(disconnected(forger.peer), 'forger disconnected')
    expect(relay.store.head(keys.id)).toBeUndefined()

    // 4. A frame length over 16 KiB breaks the framing.
    const framing = await hostile()
    framing.stream.send(Uint8Array.from([0xff, 0xff, 0x7f, 0, 0, 0]))
    await until(disconnected(framing.peer), 'bad framing disconnected')

    // The relay still serves the good validator, both ways, and HTTP.
    await publish(good, 5, 'after')
    await until(() => relay.store.head(good.id)?.sequence === goodHead + 5, 'relay still takes the good feed')
    expect((await fetch(`${url}/api/feeds/${encodeURIComponent(good.id)}?since=5`)).status).toBe(200)
    const metrics = await (await fetch(`${url}/metrics`)).text()
    const disconnects = [
      ...metrics.matchAll(/blockfin_relay_peers_disconnected_total\{reason="([A-Z_]+)"\} (\d+)/g),
    ]
    expect(disconnects.map((m) => m[1])).toEqual(expect.arrayContaining(['WRONG_NETWORK', 'FRAME_TOO_LARGE']))
  })
})
