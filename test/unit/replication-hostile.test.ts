import { describe, expect, it } from 'vitest'
import type { FeedId } from '../../src/core/identity/ids'
import { createChannelPair } from '../../src/net/replication/channel'
import { MAX_FRAME_BYTES } from '../../src/net/replication/codec'
import type { SessionEnd } from '../../src/net/replication/session'
import { FakeClock } from '../net/fake-clock'
import { forge, HostilePeer, signChain } from '../net/hostile-peer'
import {
  connect,
  converged,
  expectNoDuplicateNoGap,
  gatedAdapter,
  keysOf,
  makeNode,
  NETWORK_ID,
  OTHER_NETWORK_KEY,
  settle,
  type TestNode,
  type TestNodeOptions,
  TIMEOUT_MS,
  until,
} from '../net/replication-fixtures'

const encoder = new TextEncoder()
const aliceKeys = keysOf(1)
const mallory = keysOf(9)

interface Setup {
  alice: TestNode
  target: TestNode
  hostile: HostilePeer
  ended: Promise<SessionEnd>
  clock: FakeClock
}

/**
 * Alice (seed 1) has 10 messages; the target (seed 2) follows alice and is connected to a hostile
 * peer only. The tests connect the honest alice later, to show the target keeps serving others.
 */
async function setup(target: Partial<TestNodeOptions> = {}, aliceMessages = 10): Promise<Setup> {
  const clock = new FakeClock()
  const alice = await makeNode({ seed: 1, clock })
  await alice.publish(aliceMessages)
  const node = await makeNode({ seed: 2, clock, ...target, engine: { maxViolations: 5, ...target.engine } })
  await node.contact(alice.id, true)
  const pair = createChannelPair({ names: [node.id, 'hostile'] })
  const ended = node.engine.addPeer(pair.a)
  const hostile = new HostilePeer(pair.b, { networkId: NETWORK_ID })
  return { alice, target: node, hostile, ended, clock }
}

/** The hostile peer says hello announcing alice (and more), and waits for the target's want. */
async function announceAndAwaitWant(s: Setup, feed: FeedId = s.alice.id, seq = 10) {
  await s.hostile.hello([[feed, seq]])
  await s.hostile.waitFor(() => s.hostile.wants(feed).length > 0, 'a want')
  return s.hostile.wants(feed)[0]!
}

/** The honest alice connects: the target must still converge on alice's feed, each message once. */
async function honestStillServed(s: Setup) {
  connect(s.alice, s.target)
  await until(converged([s.alice, s.target], [s.alice.id]), 'target converges with honest alice')
  expectNoDuplicateNoGap(s.target, s.alice.id)
  expect(s.target.engine.metrics().perPeer[s.alice.id]?.violations).toEqual({})
}

async function closeAll(s: Setup) {
  s.hostile.close()
  await s.alice.close()
  await s.target.close()
}

describe('replication: hostile peers', () => {
  it('garbage frames get FRAME_MALFORMED each, then the peer is disconnected', async () => {
    const s = await setup()
    await s.hostile.hello()
    for (const bytes of [
      Uint8Array.of(0xff, 0xfe, 0xfd),
      encoder.encode('not json at all'),
      encoder.encode('[1,2,3]'),
      encoder.encode('{"t":"want"}'),
      encoder.encode('{"v":1}'),
      encoder.encode('{"v":1,"t":"want","rid":0,"feed":"@x","from":1}'),
    ])
      await s.hostile.sendRaw(bytes).catch(() => undefined)
    const end = await s.ended
    expect(end).toMatchObject({ code: 'TOO_MANY_VIOLATIONS', local: true })
    await s.hostile.ended
    expect(s.hostile.errorCodes()).toEqual([
      'FRAME_MALFORMED',
      'FRAME_MALFORMED',
      'FRAME_MALFORMED',
      'FRAME_MALFORMED',
      'TOO_MANY_VIOLATIONS',
    ])
    expect(s.hostile.errors().at(-1)?.fatal).toBe(true)
    expect(s.target.engine.metrics().violations.FRAME_MALFORMED).toBe(5)
    expect(s.target.engine.peers()).toEqual([])
    await honestStillServed(s)
    await closeAll(s)
  })

  it('an oversized frame gets FRAME_TOO_LARGE and is not parsed', async () => {
    const s = await setup()
    await s.hostile.hello()
    await s.hostile.send({ t: 'have', clock: {}, padding: 'x'.repeat(MAX_FRAME_BYTES) })
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'FRAME_TOO_LARGE', fatal: false })
    await closeAll(s)
  })

  it('an unknown frame type gets UNKNOWN_FRAME', async () => {
    const s = await setup()
    await s.hostile.hello()
    await s.hostile.send({ t: 'gossip', rumour: 'yes' })
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'UNKNOWN_FRAME', detail: 'gossip' })
    await closeAll(s)
  })

  it('a peer of another network is refused at once with WRONG_NETWORK', async () => {
    const s = await setup()
    await s.hostile.hello([], { net: '%another-network=.sha256' })
    expect(await s.ended).toMatchObject({ code: 'WRONG_NETWORK', local: true })
    await s.hostile.ended
    expect(s.hostile.errors()).toMatchObject([{ code: 'WRONG_NETWORK', fatal: true }])
    await honestStillServed(s)
    await closeAll(s)
  })

  it('a peer speaking another frame version is refused with UNSUPPORTED_VERSION', async () => {
    const s = await setup()
    await s.hostile.send({ v: 2, t: 'hello', net: NETWORK_ID })
    expect(await s.ended).toMatchObject({ code: 'UNSUPPORTED_VERSION', local: true })
    await closeAll(s)
  })

  it('requests before hello are PROTOCOL_VIOLATION', async () => {
    const s = await setup()
    await s.hostile.send({ t: 'want', rid: 1, feed: s.alice.id, from: 1 })
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'PROTOCOL_VIOLATION', detail: 'hello first' })
    await closeAll(s)
  })

  it('a peer that never completes its hello is closed with HELLO_TIMEOUT (fake clock)', async () => {
    const s = await setup()
    await s.hostile.hello([], { more: true })
    await settle()
    expect(s.hostile.closed).toBe(false)
    s.clock.advance(TIMEOUT_MS)
    expect(await s.ended).toMatchObject({ code: 'HELLO_TIMEOUT', local: true })
    await closeAll(s)
  })

  it('forged messages get SIGNATURE_INVALID, nothing is stored, and the feed is fetched elsewhere', async () => {
    const s = await setup()
    const want = await announceAndAwaitWant(s)
    expect(want.from).toBe(1)
    const texts = await s.alice.store.range(s.alice.id, 1, 10)
    await s.hostile.msgs(want.rid, s.alice.id, 1, texts.map(forge))
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'SIGNATURE_INVALID', feed: s.alice.id, fatal: false })
    expect(s.target.head(s.alice.id)).toBe(0)
    expect(s.target.engine.metrics().messagesRejected.SIGNATURE_INVALID).toBeGreaterThan(0)
    // The hostile peer is not asked for alice again; the honest one is.
    await honestStillServed(s)
    expect(s.hostile.wants(s.alice.id)).toHaveLength(1)
    await closeAll(s)
  })

  it('messages signed for another network get SIGNATURE_INVALID', async () => {
    const s = await setup()
    const want = await announceAndAwaitWant(s, s.alice.id, 3)
    const texts = await signChain(aliceKeys, 3, { networkKey: OTHER_NETWORK_KEY })
    await s.hostile.msgs(want.rid, s.alice.id, 1, texts)
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errorCodes()).toEqual(['SIGNATURE_INVALID'])
    expect(s.target.head(s.alice.id)).toBe(0)
    await closeAll(s)
  })

  it('a forked branch gets FEED_FORK: the store keeps its branch and records the evidence', async () => {
    const s = await setup()
    const link = connect(s.alice, s.target)
    await until(converged([s.alice, s.target], [s.alice.id]), 'target has alice 1..10')
    await link.close()
    // Alice (or a thief of her key) signed another history; its 11th message does not follow ours.
    const branch = await signChain(aliceKeys, 11, { content: (i) => ({ type: 'post', other: i }) })
    const want = await announceAndAwaitWant(s, s.alice.id, 11)
    expect(want.from).toBe(11)
    await s.hostile.msgs(want.rid, s.alice.id, 11, [branch[10]!])
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'FEED_FORK', feed: s.alice.id })
    expect(s.target.head(s.alice.id)).toBe(10)
    expect(s.target.store.isForked(s.alice.id)).toBe(true)
    expect(s.target.store.evidence()).toHaveLength(1)
    await closeAll(s)
  })

  it('a frame that skips sequences gets FEED_GAP', async () => {
    const s = await setup()
    const want = await announceAndAwaitWant(s)
    const texts = await s.alice.store.range(s.alice.id, 3, 10)
    await s.hostile.msgs(want.rid, s.alice.id, 3, texts)
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'FEED_GAP', feed: s.alice.id })
    expect(s.target.head(s.alice.id)).toBe(0)
    await honestStillServed(s)
    await closeAll(s)
  })

  it('a gap inside a frame gets FEED_GAP and nothing of the frame is stored', async () => {
    const s = await setup()
    const want = await announceAndAwaitWant(s)
    const texts = await s.alice.store.range(s.alice.id, 1, 10)
    await s.hostile.msgs(want.rid, s.alice.id, 1, [texts[0]!, texts[1]!, texts[3]!])
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'FEED_GAP', feed: s.alice.id })
    expect(s.target.head(s.alice.id)).toBe(0)
    await closeAll(s)
  })

  it('messages of another feed inside a requested frame get FRAME_MISMATCH and are not stored', async () => {
    const s = await setup()
    const want = await announceAndAwaitWant(s)
    const other = await signChain(mallory, 2)
    await s.hostile.msgs(want.rid, s.alice.id, 1, other)
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'FRAME_MISMATCH', feed: s.alice.id })
    expect(s.target.head(mallory.id)).toBe(0)
    expect(s.target.head(s.alice.id)).toBe(0)
    await closeAll(s)
  })

  it('unrequested messages get UNSOLICITED and are not stored, even when valid', async () => {
    const s = await setup()
    await s.hostile.hello()
    const texts = await s.alice.store.range(s.alice.id, 1, 10)
    await s.hostile.msgs(7, s.alice.id, 1, texts)
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'UNSOLICITED', feed: s.alice.id })
    await settle()
    expect(s.target.head(s.alice.id)).toBe(0)
    await closeAll(s)
  })

  it('feeds of unknown authors are not requested, and their messages are not stored', async () => {
    const known = new Set<string>([keysOf(1).id, keysOf(2).id])
    const s = await setup({ followEveryone: true, isKnownAuthor: (f) => known.has(f) })
    await s.hostile.hello([
      [mallory.id, 3],
      [s.alice.id, 10],
    ])
    await s.hostile.waitFor(() => s.hostile.wants(s.alice.id).length > 0, 'want alice')
    expect(s.hostile.wants(mallory.id)).toEqual([])
    await s.hostile.msgs(1, mallory.id, 1, await signChain(mallory, 3))
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'UNSOLICITED', feed: mallory.id })
    expect(s.target.head(mallory.id)).toBe(0)
    await closeAll(s)
  })

  it('a followed feed of an author the store does not know gets UNKNOWN_AUTHOR', async () => {
    const known = new Set<string>([keysOf(1).id, keysOf(2).id])
    const s = await setup({ isKnownAuthor: (f) => known.has(f), registryInStoreOnly: true })
    await s.target.contact(mallory.id, true)
    const want = await announceAndAwaitWant(s, mallory.id, 3)
    await s.hostile.msgs(want.rid, mallory.id, 1, await signChain(mallory, 3))
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'UNKNOWN_AUTHOR', feed: mallory.id })
    expect(s.target.head(mallory.id)).toBe(0)
    await closeAll(s)
  })

  it('a peer flooding requests is rate limited, then disconnected; others are still served', async () => {
    const s = await setup({ engine: { rateLimit: { burst: 20, perSecond: 1 } } })
    await s.hostile.hello()
    const sends: Promise<void>[] = []
    for (let i = 1; i <= 200; i++)
      sends.push(s.hostile.send({ t: 'want', rid: i, feed: s.alice.id, from: 1 }).catch(() => undefined))
    await Promise.all(sends)
    expect(await s.ended).toMatchObject({ code: 'TOO_MANY_VIOLATIONS', local: true })
    await s.hostile.ended
    const codes = s.hostile.errorCodes()
    expect(codes.slice(0, 4)).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED'])
    expect(codes.at(-1)).toBe('TOO_MANY_VIOLATIONS')
    // The hello and 19 wants used the burst of 20; the next 5 were refused; then it was closed.
    expect(s.target.engine.metrics().violations.RATE_LIMITED).toBe(5)
    await honestStillServed(s)
    await closeAll(s)
  })

  it('the rate limit refills with the (fake) clock', async () => {
    const s = await setup({ engine: { rateLimit: { burst: 5, perSecond: 10 } } })
    await s.hostile.hello()
    // The hello and four unwants take the burst of 5; the fifth unwant is refused.
    for (let i = 1; i <= 5; i++) await s.hostile.send({ t: 'unwant', feed: s.alice.id })
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'rate limited')
    expect(s.hostile.errorCodes()).toEqual(['RATE_LIMITED'])
    // Half a second later, 5 tokens are back: five more frames pass.
    s.clock.advance(500)
    for (let i = 1; i <= 4; i++) await s.hostile.send({ t: 'unwant', feed: s.alice.id })
    await s.hostile.send({ t: 'error', code: 'MARKER', fatal: false })
    await until(() => (s.target.engine.metrics().errorsReceived.MARKER ?? 0) > 0, 'marker')
    expect(s.hostile.errorCodes()).toEqual(['RATE_LIMITED'])
    await closeAll(s)
  })

  it('data beyond the announced receive window gets WINDOW_EXCEEDED', async () => {
    const gate = gatedAdapter()
    const s = await setup({
      adapter: gate.adapter,
      engine: { window: { frames: 2 }, maxPendingDataFrames: 16 },
    })
    const want = await announceAndAwaitWant(s)
    gate.hold() // the target's disk is slow: nothing it receives gets acknowledged
    const texts = await s.alice.store.range(s.alice.id, 1, 10)
    for (let i = 0; i < 4; i++) await s.hostile.msgs(want.rid, s.alice.id, 1 + i, [texts[i]!])
    await s.hostile.waitFor(() => s.hostile.errors().length >= 2, 'errors')
    expect(s.hostile.errorCodes()).toEqual(['WINDOW_EXCEEDED', 'WINDOW_EXCEEDED'])
    gate.release()
    await until(() => s.target.head(s.alice.id) === 2, 'the two frames inside the window are stored')
    await settle()
    expect(s.target.head(s.alice.id)).toBe(2)
    await closeAll(s)
  })

  it('an acknowledgement of frames never sent gets BAD_ACK', async () => {
    const s = await setup()
    await s.hostile.hello()
    await s.hostile.send({ t: 'ack', n: 5 })
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errorCodes()).toEqual(['BAD_ACK'])
    await closeAll(s)
  })

  it('a split message that is out of order or too long is refused', async () => {
    const s = await setup()
    const want = await announceAndAwaitWant(s)
    await s.hostile.send({ t: 'part', rid: want.rid, feed: s.alice.id, seq: 1, i: 1, n: 2, chunk: 'abc' })
    await s.hostile.waitFor(() => s.hostile.errors().length > 0, 'an error')
    expect(s.hostile.errors()[0]).toMatchObject({ code: 'FRAME_MISMATCH', feed: s.alice.id })
    expect(s.target.head(s.alice.id)).toBe(0)
    await closeAll(s)
  })

  it('stores nothing invalid across every attack above, and stays connected to honest peers', async () => {
    const s = await setup()
    const honest = connect(s.alice, s.target)
    await until(converged([s.alice, s.target], [s.alice.id]), 'honest sync')
    await s.hostile.hello([[s.alice.id, 50]])
    await s.hostile.msgs(1, s.alice.id, 1, ['{"garbage": true}'])
    await s.hostile.sendRaw(encoder.encode('garbage'))
    await s.hostile.send({ t: 'nope' })
    await s.hostile.send({ t: 'ack', n: 99 })
    await s.hostile.send({ t: 'want', rid: 1, feed: 'not-a-feed', from: 1 })
    expect(await s.ended).toMatchObject({ code: 'TOO_MANY_VIOLATIONS' })
    await s.alice.publish(5)
    await until(() => s.target.head(s.alice.id) === 15, 'live appends still arrive from alice')
    expectNoDuplicateNoGap(s.target, s.alice.id)
    expect(s.target.engine.peers()).toEqual([s.alice.id])
    await honest.close()
    await closeAll(s)
  })
})
