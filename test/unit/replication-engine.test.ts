import { describe, expect, it } from 'vitest'
import { createChannelPair } from '../../src/net/replication/channel'
import { decodeFrame } from '../../src/net/replication/codec'
import { FakeClock } from '../net/fake-clock'
import { HostilePeer } from '../net/hostile-peer'
import {
  connect,
  converged,
  expectNoDuplicateNoGap,
  makeNode,
  NETWORK_ID,
  settle,
  TIMEOUT_MS,
  until,
} from '../net/replication-fixtures'

describe('replication engine: convergence', () => {
  it('two nodes that follow each other converge', async () => {
    const a = await makeNode({ seed: 1 })
    const b = await makeNode({ seed: 2 })
    await a.contact(b.id, true)
    await b.contact(a.id, true)
    await a.publish(20)
    await b.publish(30)
    connect(a, b)
    await until(converged([a, b], [a.id, b.id]), 'a and b converge')
    expect(b.head(a.id)).toBe(21)
    expect(a.head(b.id)).toBe(31)
    expectNoDuplicateNoGap(a, b.id)
    expectNoDuplicateNoGap(b, a.id)
    const m = a.engine.metrics()
    expect(m.messagesStored).toBe(31)
    expect(m.violations).toEqual({})
    await a.close()
    await b.close()
  })

  it('three nodes in a triangle converge, each message stored once', async () => {
    const clock = new FakeClock()
    const nodes = await Promise.all([1, 2, 3].map((seed) => makeNode({ seed, clock })))
    for (const n of nodes) for (const m of nodes) if (n !== m) await n.contact(m.id, true)
    await Promise.all(nodes.map((n, i) => n.publish(40 + i * 10)))
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    connect(a, b)
    connect(b, c)
    connect(c, a)
    const feeds = nodes.map((n) => n.id)
    await until(converged(nodes, feeds), 'triangle converges')
    for (const n of nodes) for (const f of feeds) if (f !== n.id) expectNoDuplicateNoGap(n, f)
    await Promise.all(nodes.map((n) => n.close()))
  })

  it('a line through a relay (follow everyone) converges: validators not connected to each other', async () => {
    const clock = new FakeClock()
    const v1 = await makeNode({ seed: 1, clock })
    const relay = await makeNode({ seed: 5, clock, followEveryone: true })
    const v2 = await makeNode({ seed: 2, clock })
    await v1.contact(v2.id, true)
    await v2.contact(v1.id, true)
    await v1.publish(25)
    await v2.publish(15)
    connect(v1, relay)
    connect(relay, v2)
    await until(converged([v1, relay, v2], [v1.id, v2.id]), 'line converges')
    expect(v2.head(v1.id)).toBe(26)
    // The relay does not push the relay's own feed to validators that do not follow it.
    await relay.publish(3)
    await settle()
    expect(v1.head(relay.id)).toBe(0)
    for (const n of [v1, relay, v2]) await n.close()
  })

  it('live appends propagate after catch-up, without new requests', async () => {
    const a = await makeNode({ seed: 1 })
    const b = await makeNode({ seed: 2 })
    await b.contact(a.id, true)
    await a.publish(5)
    connect(a, b)
    await until(() => b.head(a.id) === 5, 'catch-up')
    const wantsBefore = b.engine.metrics().wantsSent
    for (let i = 0; i < 20; i++) {
      await a.publish(1)
      await until(() => b.head(a.id) === 6 + i, `live message ${6 + i}`)
    }
    expect(b.engine.metrics().wantsSent).toBe(wantsBefore)
    expectNoDuplicateNoGap(b, a.id)
    await a.close()
    await b.close()
  })

  it('resumes after a disconnect from the vector clock: no duplicate stored, no gap', async () => {
    const clock = new FakeClock()
    const a = await makeNode({ seed: 1, clock })
    const b = await makeNode({ seed: 2, clock })
    await b.contact(a.id, true)
    await a.publish(3000, (i) => ({ type: 'post', i }))
    const first = connect(a, b)
    // Cut the connection in the middle of the catch-up, right after a commit.
    const stop = b.store.subscribe(() => {
      if (b.head(a.id) >= 1000) first.pair.a.close('cut')
    })
    await first.ended
    stop()
    const cut = b.head(a.id)
    expect(cut).toBeLessThan(3000)
    await settle()
    const second = connect(a, b)
    // The second session asks from our head + 1, exactly.
    await until(() => b.head(a.id) === 3000, 'the rest')
    expect(b.engine.metrics().perPeer[a.id]?.wantsSent).toBe(1)
    expectNoDuplicateNoGap(b, a.id)
    expect(b.accepted.get(a.id)).toHaveLength(3000)
    expect(b.engine.metrics().messagesRejected.FEED_DUPLICATE ?? 0).toBe(0)
    await second.close()
    await a.close()
    await b.close()
  })

  it('a node that appended while offline converges after reconnecting', async () => {
    const clock = new FakeClock()
    const a = await makeNode({ seed: 1, clock })
    const b = await makeNode({ seed: 2, clock })
    await a.contact(b.id, true)
    await b.contact(a.id, true)
    await a.publish(10)
    const link = connect(a, b)
    await until(converged([a, b], [a.id, b.id]), 'first sync')
    await link.close()
    // Both keep working offline.
    await a.publish(50)
    await b.publish(70)
    expect(b.head(a.id)).toBe(11)
    connect(a, b)
    await until(converged([a, b], [a.id, b.id]), 'sync after reconnect')
    expect(b.head(a.id)).toBe(61)
    expect(a.head(b.id)).toBe(71)
    expectNoDuplicateNoGap(a, b.id)
    expectNoDuplicateNoGap(b, a.id)
    await a.close()
    await b.close()
  })

  it('catches up 10,000 messages, every one verified and stored once', async () => {
    const a = await makeNode({ seed: 1 })
    const b = await makeNode({ seed: 2 })
    const extra = [3, 4, 5].map((n) => makeNode({ seed: n }))
    const others = await Promise.all(extra)
    for (const o of others) await o.close()
    await b.contact(a.id, true)
    for (const o of others) await b.contact(o.id, true)
    for (const o of others) await a.contact(o.id, true) // a replicates (and so announces) them
    // 10,000 messages over a's own feed and three more feeds a holds (a's contacts excluded).
    await a.publish(4000 - 3)
    for (const o of others) await a.publishAs(o.keys, 2000)
    connect(a, b)
    const feeds = [a.id, ...others.map((o) => o.id)]
    await until(converged([a, b], feeds), '10k catch-up', 1_000_000)
    const stored = feeds.reduce((n, f) => n + (b.accepted.get(f)?.length ?? 0), 0)
    expect(stored).toBe(10_000)
    for (const f of feeds) expectNoDuplicateNoGap(b, f)
    expect(b.engine.metrics().messagesStored).toBe(10_000)
    await a.close()
    await b.close()
  })

  it('refuses peers beyond maxPeers and replaces a duplicate connection to the same peer', async () => {
    const a = await makeNode({ seed: 1, engine: { maxPeers: 1 } })
    const b = await makeNode({ seed: 2 })
    const c = await makeNode({ seed: 3 })
    await b.contact(a.id, true)
    await a.publish(3)
    const first = connect(a, b)
    await until(() => b.head(a.id) === 3, 'b synced')
    const refused = connect(a, c)
    const [aSide] = await refused.ended
    expect(aSide).toMatchObject({ code: 'TOO_MANY_PEERS', local: true })
    // b reconnects (a new channel) while the old one is still open: the newer wins.
    const again = connect(a, b)
    const [oldA] = await first.ended
    expect(oldA).toMatchObject({ code: 'REPLACED', local: true })
    await a.publish(2)
    await until(() => b.head(a.id) === 5, 'b synced over the new channel')
    expect(a.engine.peers()).toEqual([b.id])
    await again.close()
    for (const n of [a, b, c]) await n.close()
  })

  it('two honest nodes of different networks refuse each other', async () => {
    const a = await makeNode({ seed: 1 })
    const b = await makeNode({ seed: 2, networkId: '%b3RoZXI=.sha256' })
    const [x, y] = await connect(a, b).ended
    for (const e of [x, y]) expect(['WRONG_NETWORK', 'CLOSED']).toContain(e.code)
    expect([x, y].some((e) => e.code === 'WRONG_NETWORK' && e.local)).toBe(true)
    await a.close()
    await b.close()
  })
})

describe('replication engine: one source per feed', () => {
  it('requests each feed from one peer at a time and switches on timeout when it stalls', async () => {
    const clock = new FakeClock()
    const alice = await makeNode({ seed: 1, clock })
    await alice.publish(30)
    const target = await makeNode({ seed: 2, clock })
    await target.contact(alice.id, true)
    // A stalling peer announces alice's feed and never sends it.
    const stallPair = createChannelPair({ names: [target.id, 'staller'] })
    void target.engine.addPeer(stallPair.a)
    const staller = new HostilePeer(stallPair.b, { networkId: NETWORK_ID })
    await staller.hello([[alice.id, 30]])
    await staller.waitFor(() => staller.wants(alice.id).length === 1, 'want to the staller')
    expect(target.engine.sourceOf(alice.id)).toBe('staller')
    // An honest peer with the feed connects: no request goes to it while the staller is the source.
    const wantsToAlice: number[] = []
    const link = connect(target, alice, {
      observe(frame, from) {
        const f = decodeFrame(frame)
        if (from === 0 && f.ok && f.value.t === 'want' && f.value.feed === alice.id)
          wantsToAlice.push(f.value.from)
      },
    })
    await until(() => target.engine.metrics().perPeer[alice.id] !== undefined, 'session')
    await settle()
    expect(wantsToAlice).toEqual([])
    expect(target.head(alice.id)).toBe(0)
    // Just before the timeout: still the staller.
    clock.advance(TIMEOUT_MS - 1)
    await settle()
    expect(wantsToAlice).toEqual([])
    // At the timeout: the request moves to alice, and the staller is told to stop.
    clock.advance(1)
    await until(() => wantsToAlice.length === 1, 'want to alice')
    expect(wantsToAlice).toEqual([1])
    await staller.waitFor(() => staller.frames.some((f) => f.t === 'unwant' && f.feed === alice.id), 'unwant')
    await until(() => target.head(alice.id) === 30, 'converged from alice')
    expect(target.engine.sourceOf(alice.id)).toBe(alice.id)
    const m = target.engine.metrics()
    expect(m.requestTimeouts).toBe(1)
    expect(m.sourceSwitches).toBe(1)
    expect(staller.wants(alice.id)).toHaveLength(1)
    expectNoDuplicateNoGap(target, alice.id)
    staller.close()
    await link.close()
    await alice.close()
    await target.close()
  })

  it("pulls a feed from a preferred peer (a tab's relay) when several have it", async () => {
    const alice = await makeNode({ seed: 1 })
    await alice.publish(20)
    const relay = await makeNode({ seed: 2, followEveryone: true })
    const toAlice = connect(relay, alice)
    await until(() => relay.head(alice.id) === 20, 'relay has alice')
    const bob = await makeNode({ seed: 3 })
    await bob.contact(alice.id, true)
    const bobRelay = connect(bob, relay)
    await until(() => bob.head(alice.id) === 20, 'bob has alice')
    const target = await makeNode({ seed: 4, engine: { preferSource: (peer) => peer === relay.id } })
    // Bob connects first: without the preference he would be the source (same load, first found).
    const links = [connect(target, bob), connect(target, relay)]
    await until(() => Object.keys(target.engine.metrics().perPeer).length === 2, 'two sessions')
    await target.contact(alice.id, true)
    await until(() => target.head(alice.id) === 20, 'target has alice')
    expect(target.engine.sourceOf(alice.id)).toBe(relay.id)
    expectNoDuplicateNoGap(target, alice.id)
    for (const l of [...links, toAlice, bobRelay]) await l.close()
    for (const n of [target, bob, relay, alice]) await n.close()
  })

  it('does not time out a source that keeps delivering, nor an idle feed', async () => {
    const clock = new FakeClock()
    const a = await makeNode({ seed: 1, clock })
    const b = await makeNode({ seed: 2, clock })
    await b.contact(a.id, true)
    connect(a, b)
    for (let i = 1; i <= 5; i++) {
      await a.publish(1)
      await until(() => b.head(a.id) === i, `message ${i}`)
      clock.advance(TIMEOUT_MS * 2) // idle (nothing known to be missing): no timeout
    }
    expect(b.engine.metrics().requestTimeouts).toBe(0)
    expect(b.engine.metrics().perPeer[a.id]?.wantsSent).toBe(1)
    await a.close()
    await b.close()
  })

  it('moves the request when the source disconnects', async () => {
    const clock = new FakeClock()
    const alice = await makeNode({ seed: 1, clock })
    await alice.publish(40)
    const relay = await makeNode({ seed: 5, clock, followEveryone: true })
    const target = await makeNode({ seed: 2, clock })
    await target.contact(alice.id, true)
    const r = connect(alice, relay)
    await until(() => relay.head(alice.id) === 40, 'relay has alice')
    await r.close()
    // The relay's data frames to target are lost, so that it stays the (stalled) source.
    const viaRelay = connect(target, relay, {
      drop: (frame, from) => {
        const f = decodeFrame(frame)
        return from === 1 && f.ok && f.value.t === 'msgs'
      },
    })
    await until(() => target.engine.sourceOf(alice.id) === relay.id, 'relay is the source')
    connect(target, alice)
    await settle()
    expect(target.engine.sourceOf(alice.id)).toBe(relay.id)
    viaRelay.pair.b.close('relay goes away')
    await until(() => target.head(alice.id) === 40, 'target gets alice from alice')
    expect(target.engine.sourceOf(alice.id)).toBe(alice.id)
    expectNoDuplicateNoGap(target, alice.id)
    for (const n of [alice, relay, target]) await n.close()
  })
})
