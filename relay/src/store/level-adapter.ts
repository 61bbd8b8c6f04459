import { ClassicLevel } from 'classic-level'
import createDebug from 'debug'
import type { ForkEvidence } from '../../../src/core/feed/evidence'
import { MAX_SEQUENCE } from '../../../src/core/feed/message'
import type { FeedId, MessageId } from '../../../src/core/identity/ids'
import type { CommitBatch, FeedStorageAdapter, HeadRecord } from '../../../src/store/adapter'

const log = createDebug('blockfin:store:level')

/*
 * Key layout (utf8 strings; LevelDB orders keys bytewise):
 *   m!<author>!<sequence, 10-digit zero-padded>  -> <id>\n<text>  (before 2026-12: JSON { id, text })
 *   h!<author>                                   -> JSON { sequence, id }
 *   e!<counter, 16-digit zero-padded>            -> JSON ForkEvidence
 * Zero padding makes bytewise order numeric order (MAX_SEQUENCE = 2^31 - 1 has 10 digits). '!' sorts
 * below every base64 character and '"' right after '!', so `x!`..`x"` bounds exactly one section.
 */
const SEQUENCE_DIGITS = 10
const COUNTER_DIGITS = 16

function messageKey(author: FeedId, sequence: number): string {
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > MAX_SEQUENCE)
    throw new RangeError(`sequence out of range: ${sequence}`)
  return `m!${author}!${String(sequence).padStart(SEQUENCE_DIGITS, '0')}`
}
const headKey = (author: FeedId) => `h!${author}`
const evidenceKey = (counter: number) => `e!${String(counter).padStart(COUNTER_DIGITS, '0')}`

interface StoredMessage {
  id: MessageId
  text: string
}

/*
 * A message value is its id, a newline, then its text exactly as signed: no JSON round trip per
 * message (1.7 µs to write and 0.9 µs to read a 0.4 KB message) and no escaping on disk. An id never
 * holds a newline and starts with '%'; values written by earlier versions are JSON and start with '{'.
 */
const encodeMessageValue = (id: MessageId, text: string) => `${id}\n${text}`
function messageText(value: string): string {
  if (value.startsWith('{')) return (JSON.parse(value) as StoredMessage).text
  const cut = value.indexOf('\n')
  if (cut < 0) throw new Error(`corrupt message value: ${value.slice(0, 60)}`)
  return value.slice(cut + 1)
}
interface StoredHead {
  sequence: number
  id: MessageId
}

/**
 * The relay's on-disk storage: LevelDB through classic-level. Every commit is one atomic batch
 * written with `sync: true`, so LevelDB fsyncs its log before the batch is acknowledged.
 * The directory is locked while open: one adapter per path at a time.
 */
export async function openLevelAdapter(options: { path: string }): Promise<FeedStorageAdapter> {
  const db = new ClassicLevel<string, string>(options.path, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open({ createIfMissing: true })
  let nextEvidence = 0
  for await (const key of db.keys({ gte: 'e!', lt: 'e"', reverse: true, limit: 1 }))
    nextEvidence = Number(key.slice(2)) + 1
  log('opened %s (next evidence %d)', options.path, nextEvidence)

  return {
    name: 'leveldb',
    async readHeads() {
      const heads: HeadRecord[] = []
      for await (const [key, value] of db.iterator({ gte: 'h!', lt: 'h"' })) {
        const head = JSON.parse(value) as StoredHead
        heads.push({ author: key.slice(2) as FeedId, sequence: head.sequence, id: head.id })
      }
      return heads
    },
    async readMessage(author, sequence) {
      const value = await db.get(messageKey(author, sequence))
      return value === undefined ? undefined : messageText(value)
    },
    async readRange(author, from, to) {
      const out: string[] = []
      if (from > to) return out
      let expected = from
      // One native call for the whole range: stepping an iterator entry by entry (an async hop
      // each) was the relay's largest cost when serving replication.
      const entries = await db
        .iterator({ gte: messageKey(author, from), lte: messageKey(author, to), limit: to - from + 1 })
        .all()
      for (const [key, value] of entries) {
        if (key !== messageKey(author, expected)) break
        out.push(messageText(value))
        expected++
      }
      return out
    },
    async readEvidence() {
      const out: ForkEvidence[] = []
      for await (const value of db.values({ gte: 'e!', lt: 'e"' }))
        out.push(JSON.parse(value) as ForkEvidence)
      return out
    },
    async commit(batch: CommitBatch) {
      if (batch.messages.length === 0 && batch.heads.length === 0 && batch.evidence.length === 0) return
      // A chained batch: abstract-level's array form copies and checks every operation object,
      // about three times the cost per put (5 against 13 to 17 µs here), and the validator's
      // store writes one put per replicated message.
      const chained = db.batch()
      try {
        for (const m of batch.messages)
          chained.put(messageKey(m.author, m.sequence), encodeMessageValue(m.id, m.text))
        for (const h of batch.heads)
          chained.put(
            headKey(h.author),
            JSON.stringify({ sequence: h.sequence, id: h.id } satisfies StoredHead),
          )
        for (const e of batch.evidence) chained.put(evidenceKey(nextEvidence++), JSON.stringify(e))
      } catch (e) {
        // A bad key (a bug) must not leave the batch open or write half of it.
        await chained.close()
        throw e
      }
      await chained.write({ sync: true })
    },
    async close() {
      await db.close()
      log('closed %s', options.path)
    },
  }
}
