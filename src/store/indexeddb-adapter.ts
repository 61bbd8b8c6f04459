import createDebug from 'debug'
import { type DBSchema, deleteDB, type IDBPDatabase, type IDBPTransaction, openDB } from 'idb'
import type { ForkEvidence } from '../core/feed/evidence'
import type { FeedId, MessageId } from '../core/identity/ids'
import type { CommitBatch, FeedStorageAdapter, HeadRecord } from './adapter'

const log = createDebug('blockfin:store:indexeddb')

interface FeedDb extends DBSchema {
  /**
   * Key [author, first sequence], value: the texts of that author's messages first, first+1, ...
   * written by one commit. One record per feed per commit, not per message: IndexedDB pays per
   * record (about 5,000 puts/s here against over 100,000 messages/s in chunks).
   * IndexedDB compares array keys element-wise and numbers numerically.
   */
  chunks: { key: [FeedId, number]; value: string[] }
  /** In-line key: `author`. */
  heads: { key: FeedId; value: HeadRecord }
  /** Auto-incremented keys keep the order evidence was committed in. */
  evidence: { key: number; value: ForkEvidence }
}

/**
 * The schema version. To migrate: bump it, and add an `if (oldVersion < N)` step at the end of
 * `upgrade` that changes the stores (and rewrites data through the upgrade `transaction`, never
 * through `db.transaction`). Never edit an earlier step: a database opened at any older version runs
 * every later step in order, inside one versionchange transaction, so a failed migration leaves the
 * old data untouched. Tabs still open at the old version get `blocking` and close their connection.
 */
const SCHEMA_VERSION = 2

/** Version 1 kept one record per message; version 2 migrates them into one-message chunks. */
interface FeedDbV1Message {
  id: MessageId
  text: string
}

/**
 * The browser tab's storage: IndexedDB through `idb`. Each commit is one readwrite transaction
 * over all three stores with durability 'strict', acknowledged on `tx.done`: the browser has
 * flushed it to disk by then.
 */
export async function openIndexedDbAdapter(options: { name: string }): Promise<FeedStorageAdapter> {
  const db: IDBPDatabase<FeedDb> = await openDB<FeedDb>(options.name, SCHEMA_VERSION, {
    async upgrade(database, oldVersion, newVersion, transaction) {
      log('upgrading %s from version %d to %d', options.name, oldVersion, newVersion)
      if (oldVersion < 1) {
        database.createObjectStore('heads', { keyPath: 'author' })
        database.createObjectStore('evidence', { autoIncrement: true })
      }
      if (oldVersion < 2) {
        const chunks = database.createObjectStore('chunks')
        if (oldVersion === 1) {
          // The v1 store is not in the v2 schema type: reach it through the untyped transaction.
          const raw = transaction as unknown as IDBPTransaction<unknown, ['messages'], 'versionchange'>
          let cursor = await raw.objectStore('messages').openCursor()
          while (cursor) {
            await chunks.put([(cursor.value as FeedDbV1Message).text], cursor.key as [FeedId, number])
            cursor = await cursor.continue()
          }
          ;(database as unknown as IDBPDatabase).deleteObjectStore('messages')
        }
      }
    },
    blocked(currentVersion) {
      log('%s: waiting for other tabs holding version %d to close it', options.name, currentVersion)
    },
    blocking(_currentVersion, blockedVersion) {
      // Another tab wants a newer schema (or to delete the database): step aside. Later calls on
      // this adapter fail, so appends resolve STORE_WRITE_FAILED rather than hang.
      log('%s: closing for version %s elsewhere', options.name, blockedVersion)
      db.close()
    },
    terminated() {
      log('%s: connection terminated by the browser', options.name)
    },
  })
  log('opened %s', options.name)

  return {
    name: 'indexeddb',
    async readHeads() {
      return db.getAll('heads')
    },
    async readMessage(author, sequence) {
      // The chunk holding `sequence` is the last one that starts at or before it.
      const cursor = await db
        .transaction('chunks')
        .store.openCursor(IDBKeyRange.bound([author, 0], [author, sequence]), 'prev')
      if (!cursor) return undefined
      return cursor.value[sequence - cursor.key[1]]
    },
    async readRange(author, from, to) {
      const out: string[] = []
      if (from > to) return out
      const tx = db.transaction('chunks', 'readonly')
      const before = await tx.store.openCursor(IDBKeyRange.bound([author, 0], [author, from]), 'prev')
      const start = before ? before.key[1] : from
      const range = IDBKeyRange.bound([author, start], [author, to])
      const [keys, values] = await Promise.all([tx.store.getAllKeys(range), tx.store.getAll(range), tx.done])
      let next = from
      for (let i = 0; i < keys.length && next <= to; i++) {
        const first = keys[i]![1]
        const texts = values[i]!
        if (first > next) break // a gap: stop at the first missing message
        for (let s = Math.max(first, next); s < first + texts.length && s <= to; s++)
          out.push(texts[s - first]!)
        next = Math.max(next, first + texts.length)
      }
      return out
    },
    async readEvidence() {
      return db.getAll('evidence')
    },
    async commit(batch: CommitBatch) {
      if (batch.messages.length === 0 && batch.heads.length === 0 && batch.evidence.length === 0) return
      const tx = db.transaction(['chunks', 'heads', 'evidence'], 'readwrite', { durability: 'strict' })
      const pending: Promise<unknown>[] = [tx.done]
      try {
        const chunks = tx.objectStore('chunks')
        const heads = tx.objectStore('heads')
        const evidence = tx.objectStore('evidence')
        for (const run of contiguousRuns(batch.messages))
          pending.push(chunks.put(run.texts, [run.author, run.first]))
        for (const h of batch.heads)
          pending.push(heads.put({ author: h.author, sequence: h.sequence, id: h.id }))
        for (const e of batch.evidence) pending.push(evidence.add(e))
      } catch (e) {
        // A request that throws synchronously (a bug: bad key or uncloneable value) must not leave
        // half a batch to commit.
        tx.abort()
        await Promise.allSettled(pending)
        throw e
      }
      await Promise.all(pending)
    },
    async close() {
      db.close()
      log('closed %s', options.name)
    },
  }
}

/** Deletes the whole database (tests, and "forget this device"). Waits for open connections to close. */
export async function deleteIndexedDbDatabase(name: string): Promise<void> {
  await deleteDB(name, {
    blocked(currentVersion) {
      log('delete of %s blocked by a connection at version %d', name, currentVersion)
    },
  })
}

/** Splits a batch into runs of one author's consecutive sequences: one chunk record each. */
function contiguousRuns(
  messages: CommitBatch['messages'],
): { author: FeedId; first: number; texts: string[] }[] {
  const open = new Map<FeedId, { author: FeedId; first: number; texts: string[] }>()
  const runs: { author: FeedId; first: number; texts: string[] }[] = []
  for (const m of messages) {
    const run = open.get(m.author)
    if (run && run.first + run.texts.length === m.sequence) {
      run.texts.push(m.text)
      continue
    }
    const fresh = { author: m.author, first: m.sequence, texts: [m.text] }
    open.set(m.author, fresh)
    runs.push(fresh)
  }
  return runs
}
