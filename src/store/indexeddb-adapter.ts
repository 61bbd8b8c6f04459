import createDebug from 'debug'
import { type DBSchema, deleteDB, type IDBPDatabase, openDB } from 'idb'
import type { ForkEvidence } from '../core/feed/evidence'
import type { FeedId, MessageId } from '../core/identity/ids'
import type { CommitBatch, FeedStorageAdapter, HeadRecord } from './adapter'

const log = createDebug('blockfin:store:indexeddb')

interface FeedDb extends DBSchema {
  /** Key [author, sequence]: IndexedDB compares arrays element-wise and numbers numerically. */
  messages: { key: [FeedId, number]; value: { id: MessageId; text: string } }
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
const SCHEMA_VERSION = 1

/**
 * The browser tab's storage: IndexedDB through `idb`. Each commit is one readwrite transaction
 * over all three stores with durability 'strict', acknowledged on `tx.done`: the browser has
 * flushed it to disk by then.
 */
export async function openIndexedDbAdapter(options: { name: string }): Promise<FeedStorageAdapter> {
  const db: IDBPDatabase<FeedDb> = await openDB<FeedDb>(options.name, SCHEMA_VERSION, {
    upgrade(database, oldVersion, newVersion) {
      log('upgrading %s from version %d to %d', options.name, oldVersion, newVersion)
      if (oldVersion < 1) {
        database.createObjectStore('messages')
        database.createObjectStore('heads', { keyPath: 'author' })
        database.createObjectStore('evidence', { autoIncrement: true })
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
      return (await db.get('messages', [author, sequence]))?.text
    },
    async readRange(author, from, to) {
      const out: string[] = []
      if (from > to) return out
      const tx = db.transaction('messages', 'readonly')
      const range = IDBKeyRange.bound([author, from], [author, to])
      const [keys, values] = await Promise.all([tx.store.getAllKeys(range), tx.store.getAll(range), tx.done])
      for (let i = 0; i < keys.length; i++) {
        if (keys[i]![1] !== from + i) break
        out.push(values[i]!.text)
      }
      return out
    },
    async readEvidence() {
      return db.getAll('evidence')
    },
    async commit(batch: CommitBatch) {
      if (batch.messages.length === 0 && batch.heads.length === 0 && batch.evidence.length === 0) return
      const tx = db.transaction(['messages', 'heads', 'evidence'], 'readwrite', { durability: 'strict' })
      const pending: Promise<unknown>[] = [tx.done]
      try {
        const messages = tx.objectStore('messages')
        const heads = tx.objectStore('heads')
        const evidence = tx.objectStore('evidence')
        for (const m of batch.messages)
          pending.push(messages.put({ id: m.id, text: m.text }, [m.author, m.sequence]))
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
