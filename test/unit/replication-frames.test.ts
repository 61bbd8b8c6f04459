import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { JsonValue, MessageContent } from '../../src/core/feed/message'
import { decodeFrame, MAX_FRAME_BYTES } from '../../src/net/replication/codec'
import { connect, converged, makeNode, until } from '../net/replication-fixtures'

const heavyChar = fc.constantFrom('"', '\\', '\n', '\u0007', '\u2028', 'é', '€', '中', '😀', 'a', ' ', 'ß')
const heavy = (max: number) => fc.array(heavyChar, { maxLength: max }).map((a) => a.join(''))

/** Message contents: small and large, ASCII and not, up to (and beyond) the 8192 limit. */
const content: fc.Arbitrary<MessageContent> = fc.oneof(
  fc.record({ type: fc.constant('post'), text: fc.string({ unit: 'grapheme', maxLength: 200 }) }),
  fc.record({ type: fc.constant('post'), text: heavy(3000) }),
  fc.record({
    type: fc.constant('blob'),
    // Near the limit in UTF-16 units, about three times that in UTF-8.
    text: fc.integer({ min: 7000, max: 8000 }).map((n) => '中'.repeat(n)),
  }),
  fc.record({
    type: fc.constant('nested'),
    data: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue>,
  }),
)

describe('replication: no frame on the wire exceeds 16 KiB', () => {
  it('replicates random feeds (non-ASCII, escapes, near-limit messages) within the frame limit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(content, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
        async (feeds) => {
          const b = await makeNode({ seed: 40 })
          const authors = await Promise.all(feeds.map((_, i) => makeNode({ seed: 41 + i })))
          let largest = 0
          let undecodable = 0
          for (const [i, contents] of feeds.entries()) {
            const a = authors[i]!
            await b.contact(a.id, true)
            for (const c of contents) await a.store.publish(a.keys, c, 1_700_000_000_000) // too large: refused, skipped
            connect(a, b, {
              observe(frame) {
                largest = Math.max(largest, frame.length)
                if (!decodeFrame(frame).ok) undecodable++
              },
            })
          }
          const ids = authors.map((a) => a.id)
          await until(
            () => ids.every((id) => b.head(id) === authors.find((a) => a.id === id)!.head(id)),
            'sync',
          )
          for (const a of authors) {
            expect(await b.store.range(a.id, 1)).toEqual(await a.store.range(a.id, 1))
            await a.close()
          }
          expect(largest).toBeLessThanOrEqual(MAX_FRAME_BYTES)
          expect(undecodable).toBe(0)
          expect(b.engine.metrics().violations).toEqual({})
          await b.close()
        },
      ),
      { numRuns: 25 },
    )
  })

  it('carries a feed of maximal 3-byte-character messages (each as part frames)', async () => {
    const a = await makeNode({ seed: 60 })
    const b = await makeNode({ seed: 61 })
    await b.contact(a.id, true)
    await a.publish(1)
    // The largest '中' text that fits one message (a non-null previous): found by trying.
    let n = 7900
    while (!(await a.store.publish(a.keys, { type: 'post', text: '中'.repeat(n) }, 1)).ok) n -= 1
    for (let i = 1; i < 5; i++)
      await a.store.publish(a.keys, { type: 'post', text: '中'.repeat(n - i) }, 2 + i)
    expect(a.head(a.id)).toBe(6)
    let largest = 0
    let parts = 0
    connect(a, b, {
      observe(frame, from) {
        largest = Math.max(largest, frame.length)
        const f = decodeFrame(frame)
        if (from === 0 && f.ok && f.value.t === 'part') parts++
      },
    })
    await until(converged([a, b], [a.id]), 'sync')
    expect(b.head(a.id)).toBe(6)
    expect(parts).toBe(10) // two parts for each of the five large messages
    expect(largest).toBeLessThanOrEqual(MAX_FRAME_BYTES)
    await a.close()
    await b.close()
  })
})
