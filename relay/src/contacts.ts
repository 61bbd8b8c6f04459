/**
 * The Messagenode follows every validator (seed 001, "Network Model"), and Messagenodes follow each
 * other. The relay replicates every feed it is offered (its follow graph has `followEveryone`), so
 * it learns feeds from whoever connects: a tab or a headless validator offers its own feed, a peer
 * relay offers its Messagenode's feed and everything it holds. Each time a feed it did not follow
 * yet lands in its store, the relay publishes `{type: 'contact', contact, following: true}` on its
 * own feed. Validators follow the relay's Messagenode two hops deep, so through these contacts they
 * learn every validator and every other Messagenode (and replicate them from any peer).
 *
 * A feed that is a role feed of this relay is never followed (it is its own), nor the relay itself.
 * Contacts already on the relay's feed are read at start, so a restart publishes nothing twice.
 */
import createDebug from 'debug'
import type { VerifiedMessage } from '../../src/core/feed/message'
import { type FeedId, isFeedId } from '../../src/core/identity/ids'
import type { KeyPair } from '../../src/core/identity/keys'
import type { FeedStore } from '../../src/store/feed-store'

const log = createDebug('blockfin:relay:contacts')

export interface ContactPublisherOptions {
  readonly owner: KeyPair
  /** Feeds never followed (this relay's own role feeds). */
  readonly skip: readonly FeedId[]
}

export interface ContactPublisherDeps {
  readonly store: Pick<FeedStore, 'vectorClock' | 'range' | 'subscribe' | 'publish' | 'head'>
  readonly now: () => number
}

export interface ContactPublisher {
  /** Feeds this relay's feed follows. */
  followed(): FeedId[]
  /** Resolves when every contact decided so far is stored (tests). */
  settled(): Promise<void>
  stop(): void
}

const MAY_BE_CONTACT = /"type": "contact"/

export async function startContactPublisher(
  options: ContactPublisherOptions,
  deps: ContactPublisherDeps,
): Promise<ContactPublisher> {
  const self = options.owner.id
  const skip = new Set<FeedId>([self, ...options.skip])
  const following = new Map<FeedId, boolean>()
  let queue: Promise<void> = Promise.resolve()
  let stopped = false

  // What this relay's feed already says (latest contact per feed wins).
  const head = deps.store.head(self)?.sequence ?? 0
  for (let from = 1; from <= head; from += 1000) {
    for (const text of await deps.store.range(self, from, from + 999)) {
      if (!MAY_BE_CONTACT.test(text)) continue
      const c = (JSON.parse(text) as VerifiedMessage['value']).content as Record<string, unknown>
      if (c.type === 'contact' && isFeedId(c.contact)) following.set(c.contact, c.following === true)
    }
  }

  const follow = (feeds: readonly FeedId[]) => {
    const fresh = feeds.filter((f) => !skip.has(f) && !following.has(f))
    if (fresh.length === 0) return
    for (const f of fresh) following.set(f, true)
    queue = queue.then(async () => {
      if (stopped) return
      const outcomes = await Promise.all(
        fresh.map((contact) =>
          deps.store.publish(options.owner, { type: 'contact', contact, following: true }, deps.now()),
        ),
      )
      outcomes.forEach((o, i) => {
        if (o.ok) log('following %s', fresh[i])
        else {
          log('could not publish a contact for %s: %s', fresh[i], o.error.code)
          following.delete(fresh[i]!) // try again when the feed next grows
        }
      })
    })
  }

  const unsubscribe = deps.store.subscribe((messages) => {
    const authors = new Set<FeedId>()
    for (const m of messages) if (m.value.author !== self) authors.add(m.value.author)
    follow([...authors])
  })
  follow([...deps.store.vectorClock().keys()])

  return {
    followed: () => [...following].filter(([, f]) => f).map(([id]) => id),
    settled: () => queue,
    stop() {
      stopped = true
      unsubscribe()
    },
  }
}
