/**
 * Who owns each feed the relay holds, and in which role, from the role certificates
 * (`blockfin/role` messages, docs/protocol.md section 1) found in the stored feeds. A feed that no
 * certificate names is its own owner, with the role `messagenode` when the genesis lists it or it
 * certified a Messagenode role, `validator` when it certified a validator role, else `null`.
 *
 * The stored history is read once in the background at start (only texts that literally contain
 * the certificate type are parsed); new messages are seen through the store's subscription.
 */
import createDebug from 'debug'
import type { FeedHead, VerifiedMessage } from '../../src/core/feed/message'
import type { FeedId } from '../../src/core/identity/ids'
import {
  checkRoleCertificate,
  MESSAGENODE_ROLES,
  type Role,
  VALIDATOR_ROLES,
} from '../../src/core/identity/roles'
import type { FeedStore } from '../../src/store/feed-store'

const log = createDebug('blockfin:relay:directory')

export interface FeedDescription {
  readonly id: FeedId
  readonly owner: FeedId
  /** A role feed's role; for an identity feed, `messagenode` or `validator` when known. */
  readonly role: Role | 'messagenode' | 'validator' | null
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
  /** Owners by the kind of roles they certified. */
  const owners = new Map<FeedId, 'messagenode' | 'validator'>()
  const messagenodeRoles: readonly string[] = MESSAGENODE_ROLES
  const validatorRoles: readonly string[] = VALIDATOR_ROLES
  let closed = false

  const apply = (message: VerifiedMessage['value']) => {
    const cert = checkRoleCertificate(message, options.networkId)
    if (!cert.ok) return
    certified.set(cert.value.roleId, { owner: cert.value.ownerId, role: cert.value.role })
    if (messagenodeRoles.includes(cert.value.role)) owners.set(cert.value.ownerId, 'messagenode')
    else if (validatorRoles.includes(cert.value.role) && !owners.has(cert.value.ownerId))
      owners.set(cert.value.ownerId, 'validator')
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
    const role = options.isMessagenode(id) ? 'messagenode' : (owners.get(id) ?? null)
    return { id, owner: id, role, sequence: head.sequence }
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
