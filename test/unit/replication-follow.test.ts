import { describe, expect, it } from 'vitest'
import type { FeedId } from '../../src/core/identity/ids'
import { deriveRoleKeys, roleCertificateContent } from '../../src/core/identity/roles'
import { type FollowChange, openFollowGraph } from '../../src/net/follow-graph'
import { decodeFrame } from '../../src/net/replication/codec'
import { FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter, MemoryDisk } from '../../src/store/memory-adapter'
import { FakeClock } from '../net/fake-clock'
import {
  connect,
  ed25519,
  expectNoDuplicateNoGap,
  keysOf,
  makeNode,
  NETWORK_ID,
  NETWORK_KEY,
  settle,
  until,
} from '../net/replication-fixtures'

const me = keysOf(1)
const [alice, bob, carol, dave] = [keysOf(2), keysOf(3), keysOf(4), keysOf(5)]
let ts = 1

async function storeOn(disk = new MemoryDisk()) {
  return FeedStore.open({ networkKey: NETWORK_KEY }, { adapter: createMemoryAdapter(disk), ed25519 })
}

const contact = (contact: FeedId, following: boolean, blocking?: boolean) => ({
  type: 'contact',
  contact,
  following,
  ...(blocking === undefined ? {} : { blocking }),
})

describe('follow graph: contact messages decide what is replicated', () => {
  it('own feeds, then follows and unfollows by the latest contact message', async () => {
    const store = await storeOn()
    const graph = await openFollowGraph({ self: [me.id] }, { store })
    const changes: FollowChange[] = []
    graph.subscribe((c) => changes.push(c))
    expect(graph.replicated()).toEqual([me.id])
    await store.publish(me, contact(alice.id, true), ts++)
    await store.publish(me, contact(bob.id, true), ts++)
    await graph.settled()
    expect(new Set(graph.replicated())).toEqual(new Set([me.id, alice.id, bob.id]))
    await store.publish(me, contact(alice.id, false), ts++)
    await graph.settled()
    expect(graph.replicates(alice.id)).toBe(false)
    expect(graph.replicates(bob.id)).toBe(true)
    expect(changes).toEqual([
      { added: [alice.id], removed: [] },
      { added: [bob.id], removed: [] },
      { added: [], removed: [alice.id] },
    ])
    graph.close()
  })

  it('hops: 1 ignores what followed feeds follow; 2 includes it; blocks win', async () => {
    const store = await storeOn()
    await store.publish(me, contact(alice.id, true), ts++)
    await store.publish(alice, contact(bob.id, true), ts++)
    await store.publish(alice, contact(carol.id, true), ts++)
    await store.publish(bob, contact(dave.id, true), ts++)
    const one = await openFollowGraph({ self: [me.id], hops: 1 }, { store })
    expect(new Set(one.replicated())).toEqual(new Set([me.id, alice.id]))
    const two = await openFollowGraph({ self: [me.id], hops: 2 }, { store })
    expect(new Set(two.replicated())).toEqual(new Set([me.id, alice.id, bob.id, carol.id]))
    expect(two.distance(bob.id)).toBe(2)
    expect(two.replicates(dave.id)).toBe(false)
    // I block carol: followed by alice or not, carol is not replicated.
    await store.publish(me, contact(carol.id, false, true), ts++)
    await two.settled()
    expect(two.replicates(carol.id)).toBe(false)
    expect(two.isBlocked(carol.id)).toBe(true)
    one.close()
    two.close()
  })

  it('a role certificate brings the role feed in at its owner’s distance', async () => {
    const store = await storeOn()
    const myRole = deriveRoleKeys(me, 'precommitter')
    const aliceRole = deriveRoleKeys(alice, 'seal-counter')
    await store.publish(me, { ...roleCertificateContent(myRole, NETWORK_ID) }, ts++)
    await store.publish(alice, { ...roleCertificateContent(aliceRole, NETWORK_ID) }, ts++)
    const graph = await openFollowGraph({ self: [me.id] }, { store })
    expect(graph.replicates(myRole.id)).toBe(true)
    expect(graph.replicates(aliceRole.id)).toBe(false)
    await store.publish(me, contact(alice.id, true), ts++)
    await graph.settled()
    expect(graph.distance(aliceRole.id)).toBe(1)
    graph.close()
  })

  it('is rebuilt from the store on open, latest contact per pair winning', async () => {
    const disk = new MemoryDisk()
    const store = await storeOn(disk)
    await store.publish(me, contact(alice.id, true), ts++)
    await store.publish(me, contact(bob.id, true), ts++)
    await store.publish(me, contact(alice.id, false), ts++)
    await store.close()
    const reopened = await storeOn(disk)
    const graph = await openFollowGraph({ self: [me.id] }, { store: reopened })
    expect(new Set(graph.replicated())).toEqual(new Set([me.id, bob.id]))
    graph.close()
  })

  it('follow everyone: every feed but the blocked ones; static follows count as followed', async () => {
    const store = await storeOn()
    const graph = await openFollowGraph({ self: [me.id], followEveryone: true, follow: [dave.id] }, { store })
    const changes: FollowChange[] = []
    graph.subscribe((c) => changes.push(c))
    expect(graph.replicates(alice.id)).toBe(true)
    expect(graph.distance(dave.id)).toBe(1)
    await store.publish(me, contact(alice.id, false, true), ts++)
    await graph.settled()
    expect(graph.replicates(alice.id)).toBe(false)
    expect(changes).toEqual([{ added: [], removed: [alice.id] }])
    graph.close()
  })
})

describe('replication: following through contact messages changes what is replicated', () => {
  it('follow, then unfollow, then follow again via contacts, against a relay that has everything', async () => {
    const clock = new FakeClock()
    const relay = await makeNode({ seed: 50, clock, followEveryone: true })
    const a = await makeNode({ seed: 2, clock })
    const c = await makeNode({ seed: 4, clock })
    await a.publish(10)
    await c.publish(10)
    connect(a, relay)
    connect(c, relay)
    await until(() => relay.head(a.id) === 10 && relay.head(c.id) === 10, 'relay has a and c')
    const me = await makeNode({ seed: 1, clock })
    const follows: string[] = []
    const unfollows: string[] = []
    connect(me, relay, {
      observe(frame, from) {
        const f = decodeFrame(frame)
        if (from !== 0 || !f.ok) return
        if (f.value.t === 'follow') follows.push(...f.value.clock.map(([feed]) => feed))
        if (f.value.t === 'unfollow') unfollows.push(...f.value.feeds)
      },
    })
    await settle()
    expect(me.head(a.id)).toBe(0)
    expect(me.head(c.id)).toBe(0)

    await me.contact(a.id, true)
    await until(() => me.head(a.id) === 10, 'a replicated after following it')
    await settle()
    expect(me.head(c.id)).toBe(0)
    expect(follows).toEqual([a.id])

    await me.contact(c.id, true)
    await until(() => me.head(c.id) === 10, 'c replicated after following it')

    await me.contact(a.id, false)
    await until(() => unfollows.length === 1, 'unfollow sent')
    expect(unfollows).toEqual([a.id])
    await a.publish(5)
    await c.publish(5)
    await until(
      () => relay.head(a.id) === 15 && me.head(c.id) === 15,
      'relay has the new ones; c still flows',
    )
    await settle()
    expect(me.head(a.id)).toBe(10)

    await me.contact(a.id, true)
    await until(() => me.head(a.id) === 15, 'a resumes from 11 after following again')
    expectNoDuplicateNoGap(me, a.id)
    expectNoDuplicateNoGap(me, c.id)
    for (const n of [relay, a, c, me]) await n.close()
  })

  it('blocking a feed stops a relay from replicating it', async () => {
    const clock = new FakeClock()
    const relay = await makeNode({ seed: 50, clock, followEveryone: true })
    const a = await makeNode({ seed: 2, clock })
    await a.publish(3)
    connect(a, relay)
    await until(() => relay.head(a.id) === 3, 'relay has a')
    await relay.contact(a.id, false, true)
    await a.publish(3)
    await settle(100)
    expect(relay.head(a.id)).toBe(3)
    for (const n of [relay, a]) await n.close()
  })
})
