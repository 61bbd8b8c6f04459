/**
 * Who owns each feed the relay holds, and in which role, from the role certificates
 * (`blockfin/role` messages, docs/protocol.md section 1) found in the stored feeds. A feed that no
 * certificate names is its own owner, with the role `messagenode` when the genesis lists it, else
 * `null` (a validator's identity feed, or one not described yet).
 *
 * The stored history is read once in the background at start (only texts that literally contain
 * the certificate type are parsed); new messages are seen through the store's subscription.
 */
import createDebug from 'debug'
import type { FeedHead, VerifiedMessage } from '../../src/core/feed/message'
import type { FeedId } from '../../src/core/identity/ids'
import { checkRoleCertificate, type Role } from '../../src/core/identity/roles'
import type { FeedStore } from '../../src/store/feed-store'

const log = createDebug('blockfin:relay:directory')

export interface FeedDescription {
  readonly id: FeedId
  readonly owner: FeedId
  readonly role: Role | 'messagenode' | null
  readonly sequence: number
}

export interface FeedDirectory {
  describe(id: FeedId): FeedDescription | undefined
  list(): FeedDescription[]
  /** Resolves when the start-up scan has finished (tests). */
  ready(): Promise<void>
  close(): void
}

export interface FeedDirectoryOptions {
  readonly networkId: string
  /** The genesis' Messagenodes, this relay's own, and peer relays' once known. */
  readonly isMessagenode: (id: FeedId) => boolean
}

export interface FeedDirectoryDeps {
  readonly store: Pick<FeedStore, 'vectorClock' | 'range' | 'subscribe' | 'head'>
}

const MAY_BE_CERTIFICATE = /"type": "blockfin\/role"/
const SCAN_BATCH = 1000

export function openFeedDirectory(options: FeedDirectoryOptions, deps: FeedDirectoryDeps): FeedDirectory {
  const certified = new Map<FeedId, { owner: FeedId; role: Role }>()
  let closed = false

  const apply = (message: VerifiedMessage['value']) => {
    const cert = checkRoleCertificate(message, options.networkId)
    if (cert.ok) certified.set(cert.value.roleId, { owner: cert.value.ownerId, role: cert.value.role })
  }
  const applyText = (text: string) => {
    if (!MAY_BE_CERTIFICATE.test(text)) return
    try {
      apply(JSON.parse(text) as VerifiedMessage['value'])
    } catch {
      // stored texts are verified JSON
    }
  }

  const unsubscribe = deps.store.subscribe((messages) => {
    for (const m of messages) if (m.value.content.type === 'blockfin/role') apply(m.value)
  })

  const scan = (async () => {
    for (const feed of deps.store.vectorClock().keys()) {
      for (let from = 1; !closed; from += SCAN_BATCH) {
        const texts = await deps.store.range(feed, from, from + SCAN_BATCH - 1)
        for (const t of texts) applyText(t)
        if (texts.length < SCAN_BATCH) break
      }
    }
    log('scanned: %d role feeds known', certified.size)
  })().catch((e: unknown) => log('scan failed: %O', e))

  const describe = (id: FeedId, head: FeedHead | undefined): FeedDescription | undefined => {
    if (!head) return undefined
    const cert = certified.get(id)
    if (cert) return { id, owner: cert.owner, role: cert.role, sequence: head.sequence }
    return { id, owner: id, role: options.isMessagenode(id) ? 'messagenode' : null, sequence: head.sequence }
  }

  return {
    describe: (id) => describe(id, deps.store.head(id)),
    list: () => [...deps.store.vectorClock()].map(([id, head]) => describe(id, head)!),
    ready: () => scan,
    close() {
      closed = true
      unsubscribe()
    },
  }
}
