import createDebug from 'debug'
import { type DBSchema, type IDBPDatabase, type IDBPObjectStore, openDB } from 'idb'
import {
  exportKeys,
  type IdentityError,
  importKeys,
  type KeyPair,
  type KeysJson,
} from '../core/identity/keys'
import { err, ok, type Result } from '../core/result'

const log = createDebug('blockfin:store:identity')

export type IdentityStoreError =
  /** A record is stored but does not import (edited, truncated, or from an incompatible version). */
  | { code: 'IDENTITY_RECORD_CORRUPT'; cause: IdentityError }
  /** IndexedDB refused (quota, a closed connection, the browser clearing site data). */
  | { code: 'IDENTITY_STORE_FAILED'; operation: 'load' | 'save' | 'clear'; reason: string }

export interface IdentityStore {
  /** The saved identity, `undefined` when none is saved yet. */
  load(): Promise<Result<KeyPair | undefined, IdentityStoreError>>
  /** Replaces the saved identity; resolves ok once it is on disk (durability 'strict'). */
  save(keys: KeyPair): Promise<Result<void, IdentityStoreError>>
  clear(): Promise<Result<void, IdentityStoreError>>
  close(): Promise<void>
}

interface IdentityDb extends DBSchema {
  /** One record under SELF: the listing-1 JSON object, as `exportKeys` makes it. */
  identity: { key: string; value: KeysJson }
}

const SELF = 'self'
/** Schema version; migrate like the feed database (src/store/indexeddb-adapter.ts): add `if (oldVersion < N)` steps. */
const SCHEMA_VERSION = 1

const reasonOf = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))

/**
 * The tab's identity, kept in its own IndexedDB database. The secret key is stored in the clear
 * (as ssb's ~/.ssb/secret is): anything running in this origin can read it.
 */
export async function openIdentityStore(options: { name: string }): Promise<IdentityStore> {
  const db: IDBPDatabase<IdentityDb> = await openDB<IdentityDb>(options.name, SCHEMA_VERSION, {
    upgrade(database, oldVersion) {
      if (oldVersion < 1) database.createObjectStore('identity')
    },
    blocking() {
      log('%s: closing for a newer version elsewhere', options.name)
      db.close()
    },
  })

  const write = async (
    operation: 'save' | 'clear',
    run: (store: IDBPObjectStore<IdentityDb, ['identity'], 'identity', 'readwrite'>) => Promise<unknown>,
  ): Promise<Result<void, IdentityStoreError>> => {
    try {
      const tx = db.transaction('identity', 'readwrite', { durability: 'strict' })
      await Promise.all([run(tx.store), tx.done])
      return ok(undefined)
    } catch (e) {
      log('%s failed: %s', operation, reasonOf(e))
      return err({ code: 'IDENTITY_STORE_FAILED', operation, reason: reasonOf(e) })
    }
  }

  return {
    async load() {
      let record: unknown
      try {
        record = await db.get('identity', SELF)
      } catch (e) {
        return err({ code: 'IDENTITY_STORE_FAILED', operation: 'load', reason: reasonOf(e) })
      }
      if (record === undefined) return ok(undefined)
      const keys = importKeys(record)
      if (!keys.ok) {
        log('stored identity does not import: %s', keys.error.code)
        return err({ code: 'IDENTITY_RECORD_CORRUPT', cause: keys.error })
      }
      return keys
    },
    save: (keys) => write('save', (store) => store.put(exportKeys(keys), SELF)),
    clear: () => write('clear', (store) => store.delete(SELF)),
    async close() {
      db.close()
    },
  }
}
