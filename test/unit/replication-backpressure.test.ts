import { describe, expect, it } from 'vitest'
import { decodeFrame, isDataFrame } from '../../src/net/replication/codec'
import { FakeClock } from '../net/fake-clock'
import { connect, gatedAdapter, makeNode, settle, until } from '../net/replication-fixtures'

describe('replication: backpressure (asserted on counts)', () => {
  it('sends no more than the receive window while the receiver’s disk is slow, and reads no faster than it commits', async () => {
    const gate = gatedAdapter()
    const a = await makeNode({ seed: 1 })
    const b = await makeNode({
      seed: 2,
      adapter: gate.adapter,
      engine: { window: { frames: 3, bytes: 64 * 1024 }, maxPendingDataFrames: 2 },
    })
    await b.contact(a.id, true)
    await a.publish(2000)
    let dataFramesSent = 0
    gate.hold() // nothing b receives becomes durable until released
    const link = connect(a, b, {
      capacity: 4,
      observe(frame, from) {
        const f = decodeFrame(frame)
        if (from === 0 && f.ok && isDataFrame(f.value)) dataFramesSent++
      },
    })
    await until(() => dataFramesSent >= 3, 'a fills the window')
    await settle(200)
    // a sent exactly its window; b handed two frames to the store and left the third unread.
    expect(dataFramesSent).toBe(3)
    expect(b.head(a.id)).toBe(0)
    const held = b.engine.metrics().perPeer[a.id]!
    expect(held.maxPendingDataFrames).toBe(2)
    expect(held.dataFramesIn).toBe(2)
    expect(a.engine.metrics().perPeer[b.id]!.dataFramesInFlight).toBe(3)
    gate.release()
    await until(() => b.head(a.id) === 2000, 'everything arrives once the disk is fast again')
    const sender = a.engine.metrics().perPeer[b.id]!
    const receiver = b.engine.metrics().perPeer[a.id]!
    expect(sender.maxDataFramesInFlight).toBeLessThanOrEqual(3)
    expect(sender.maxDataBytesInFlight).toBeLessThanOrEqual(64 * 1024)
    expect(receiver.maxUnackedReceived).toBeLessThanOrEqual(3)
    expect(receiver.maxPendingDataFrames).toBeLessThanOrEqual(2)
    expect(link.pair.maxHeld(0)).toBeLessThanOrEqual(4)
    expect(receiver.violations).toEqual({})
    await a.close()
    await b.close()
  })

  it('coalesces acks on a live connection: one per quarter window, the rest after the ack delay', async () => {
    const a = await makeNode({ seed: 1 })
    const b = await makeNode({ seed: 2 }) // default window: 64 frames, so an ack per 16 at most
    await b.contact(a.id, true)
    let acks = 0
    let dataFrames = 0
    connect(a, b, {
      observe(frame, from) {
        const f = decodeFrame(frame)
        if (!f.ok) return
        if (from === 1 && f.value.t === 'ack') acks++
        if (from === 0 && isDataFrame(f.value)) dataFrames++
      },
    })
    await a.publish(1)
    await until(() => b.head(a.id) === 1, 'the live request is served')
    // Live appends one at a time: each goes out as its own frame as soon as it is stored.
    for (let i = 0; i < 40; i++) {
      await a.publish(1)
      await until(() => b.head(a.id) === i + 2, 'the append arrives')
      await settle(5)
    }
    expect(dataFrames).toBe(41)
    expect(acks).toBeLessThanOrEqual(3)
    const inFlight = () => a.engine.metrics().perPeer[b.id]!.dataFramesInFlight
    expect(inFlight()).toBeGreaterThan(0)
    // The delayed ack covers the rest: nothing stays unacknowledged once its delay is over.
    b.clock.advance(10)
    await until(() => inFlight() === 0, 'the delayed ack arrives')
    expect(acks).toBeLessThanOrEqual(4)
    await a.close()
    await b.close()
  })

  it('coalesces haves to a peer that pulls the feed elsewhere: the first at once, the rest after the have delay', async () => {
    const clock = new FakeClock()
    const alice = await makeNode({ seed: 1, clock })
    await alice.publish(1)
    const relay = await makeNode({ seed: 2, clock, followEveryone: true })
    connect(relay, alice)
    await until(() => relay.head(alice.id) === 1, 'relay has alice')
    // Bob pulls alice's feed from the relay (a tab's preference) and is also connected to alice.
    const bob = await makeNode({ seed: 3, clock, engine: { preferSource: (peer) => peer === relay.id } })
    await bob.contact(alice.id, true)
    connect(bob, relay)
    await until(() => bob.head(alice.id) === 1, 'bob has alice from the relay')
    const haves: number[] = []
    connect(alice, bob, {
      observe(frame, from) {
        const f = decodeFrame(frame)
        if (from === 0 && f.ok && f.value.t === 'have')
          haves.push(f.value.clock.find(([feed]) => feed === alice.id)?.[1] ?? 0)
      },
    })
    await settle()
    for (let i = 0; i < 40; i++) {
      await alice.publish(1)
      await until(() => bob.head(alice.id) === i + 2, 'the append reaches bob')
      await settle(5)
    }
    expect(bob.engine.sourceOf(alice.id)).toBe(relay.id)
    // One have per append was 40 frames: only the first news of the feed went at once.
    expect(haves).toEqual([2])
    clock.advance(200)
    await until(() => haves.length === 2, 'the coalesced have')
    expect(haves).toEqual([2, 41])
    for (const n of [alice, relay, bob]) await n.close()
  })

  it('respects a byte window smaller than a few frames', async () => {
    const a = await makeNode({ seed: 1 })
    // 20 KiB: at most one full frame in flight (plus a small one), whatever the frame count allows.
    const b = await makeNode({ seed: 2, engine: { window: { frames: 64, bytes: 20 * 1024 } } })
    await b.contact(a.id, true)
    await a.publish(1500, (i) => ({ type: 'post', text: 'x'.repeat(400), i }))
    connect(a, b)
    await until(() => b.head(a.id) === 1500, 'catch-up')
    const sender = a.engine.metrics().perPeer[b.id]!
    expect(sender.maxDataBytesInFlight).toBeLessThanOrEqual(20 * 1024)
    expect(sender.maxDataFramesInFlight).toBeLessThanOrEqual(2)
    await a.close()
    await b.close()
  })

  it('waits on the transport: a full channel holds no more than its capacity', async () => {
    const a = await makeNode({ seed: 1 })
    const b = await makeNode({ seed: 2, engine: { window: { frames: 32, bytes: 1024 * 1024 } } })
    await b.contact(a.id, true)
    await a.publish(1000)
    const link = connect(a, b, { capacity: 1 })
    await until(() => b.head(a.id) === 1000, 'catch-up')
    expect(link.pair.maxHeld(0)).toBe(1)
    await a.close()
    await b.close()
  })
})
