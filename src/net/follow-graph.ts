/**
 * Which feeds this node replicates, decided by SSB `contact` messages (seed 001, "following"):
 *
 *     { "type": "contact", "contact": "@feed", "following": true | false, "blocking"?: true | false }
 *
 * Distance 0 is this node's own feeds (`self`) and the role feeds they certify (`blockfin/role`
 * messages, docs/protocol.md section 1); a feed followed by a feed at distance d is at d + 1, and a
 * role feed certified by its owner has the owner's distance. Feeds at distance <= `hops` are
 * replicated (hops 1: own feeds and the ones they follow), except the ones this node blocks. For
 * each (author, contact) pair the author's latest contact message counts. `followEveryone` (relays,
 * Messagenodes) replicates every feed that is not blocked.
 */
import createDebug from 'debug'
import type { VerifiedMessage } from '../core/feed/message'
import { type FeedId, isFeedId } from '../core/identity/ids'
import type { FeedStore } from '../store/feed-store'

const log = createDebug('blockfin:net:follow')

export interface FollowGraphOptions {
  /** This node's own feeds (its identity; role feeds it certifies join by themselves). */
  readonly self: readonly FeedId[]
  /** How far following reaches (>= 1). Default 1. */
  readonly hops?: number
  /** Replicate every feed not blocked by a self feed. */
  readonly followEveryone?: boolean
  /** Feeds followed as if by a self feed's contact message (e.g. the network's Messagenodes). */
  readonly follow?: readonly FeedId[]
}

export type FollowGraphStore = Pick<FeedStore, 'vectorClock' | 'range' | 'subscribe'>

export interface FollowGraphDeps {
  readonly store: FollowGraphStore
}

export interface FollowChange {
  readonly added: readonly FeedId[]
  readonly removed: readonly FeedId[]
}

export interface FollowGraph {
  readonly followEveryone: boolean
  /** True when this node replicates `feed`. */
  replicates(feed: FeedId): boolean
  /** The feeds replicated by distance (followEveryone adds every other feed not blocked). */
  replicated(): FeedId[]
  /** Distance of a feed from this node, undefined when beyond `hops` or blocked. */
  distance(feed: FeedId): number | undefined
  isBlocked(feed: FeedId): boolean
  /** Called after every change of `replicated()`. */
  subscribe(listener: (change: FollowChange) => void): () => void
  /** Resolves when every scan started so far has been applied (tests, start-up). */
  settled(): Promise<void>
  close(): void
}

type Edge = { readonly seq: number; readonly following: boolean; readonly blocking: boolean }

const SCAN_BATCH = 1000
/** Cheap pre-filter before parsing a stored text: both types we read appear literally. */
const MAY_MATTER = /"type": "(?:contact|blockfin\/role)"/

export async function openFollowGraph(
  options: FollowGraphOptions,
  deps: FollowGraphDeps,
): Promise<FollowGraph> {
  const hops = Math.max(1, Math.floor(options.hops ?? 1))
  const followEveryone = options.followEveryone === true
  const self = new Set(options.self)
  const staticFollows = new Set(options.follow ?? [])
  /** author -> contact -> latest edge. */
  const edges = new Map<FeedId, Map<FeedId, Edge>>()
  /** owner -> role feeds it certified. */
  const roles = new Map<FeedId, Set<FeedId>>()
  /** Feeds whose stored messages have been read (or whose every message since opening was seen). */
  const scanned = new Set<FeedId>()
  const listeners = new Set<(change: FollowChange) => void>()
  let distances = new Map<FeedId, number>()
  let blocked = new Set<FeedId>()
  let pending: Promise<void> = Promise.resolve()
  let closed = false

  const apply = (m: VerifiedMessage['value']) => {
    const c = m.content as Record<string, unknown>
    if (c.type === 'contact') {
      if (!isFeedId(c.contact) || c.contact === m.author) return
      let byAuthor = edges.get(m.author)
      if (!byAuthor) {
        byAuthor = new Map()
        edges.set(m.author, byAuthor)
      }
      const previous = byAuthor.get(c.contact)
      if (previous && previous.seq >= m.sequence) return
      byAuthor.set(c.contact, {
        seq: m.sequence,
        following: c.following === true,
        blocking: c.blocking === true,
      })
    } else if (c.type === 'blockfin/role') {
      if (c.ownerid !== m.author || !isFeedId(c.roleid)) return
      let owned = roles.get(m.author)
      if (!owned) {
        owned = new Set()
        roles.set(m.author, owned)
      }
      owned.add(c.roleid)
    }
  }

  const applyText = (text: string) => {
    if (!MAY_MATTER.test(text)) return
    try {
      apply(JSON.parse(text) as VerifiedMessage['value'])
    } catch {
      // Stored texts are verified; unparsable is impossible, and ignoring it is safe.
    }
  }

  /** 0-1 breadth-first search: follow edges cost 1, role certificates cost 0. */
  const compute = () => {
    const nextBlocked = new Set<FeedId>()
    for (const s of self) for (const [feed, e] of edges.get(s) ?? []) if (e.blocking) nextBlocked.add(feed)
    const dist = new Map<FeedId, number>()
    const deque: FeedId[] = []
    const visit = (feed: FeedId, d: number, front: boolean) => {
      if (d > hops || nextBlocked.has(feed)) return
      const known = dist.get(feed)
      if (known !== undefined && known <= d) return
      dist.set(feed, d)
      if (front) deque.unshift(feed)
      else deque.push(feed)
    }
    for (const s of self) visit(s, 0, false)
    for (const f of staticFollows) visit(f, 1, false)
    while (deque.length > 0) {
      const feed = deque.shift()!
      const d = dist.get(feed)!
      for (const role of roles.get(feed) ?? []) visit(role, d, true)
      if (d >= hops) continue
      for (const [contact, e] of edges.get(feed) ?? [])
        if (e.following && !e.blocking) visit(contact, d + 1, false)
    }
    for (const s of self) if (!dist.has(s)) dist.set(s, 0) // one's own feeds, even if self-blocked
    return { dist, nextBlocked }
  }

  const recompute = () => {
    const before = distances
    const { dist, nextBlocked } = compute()
    const beforeBlocked = blocked
    distances = dist
    blocked = nextBlocked
    const added = [...dist.keys()].filter((f) => !before.has(f))
    const removed = [...before.keys()].filter((f) => !dist.has(f))
    if (followEveryone) {
      // Every feed is replicated but the blocked ones: a block or an unblock is the change.
      for (const f of nextBlocked) if (!beforeBlocked.has(f) && !removed.includes(f)) removed.push(f)
      for (const f of beforeBlocked) if (!nextBlocked.has(f) && !added.includes(f)) added.push(f)
    }
    // Every replicated feed can hold contacts (if closer than `hops`) or role certificates: read
    // the history of the ones not read yet; from now on the subscription sees their new messages.
    const toScan = [...dist.keys()].filter((f) => !scanned.has(f))
    if (toScan.length > 0) scheduleScan(toScan)
    if (added.length === 0 && removed.length === 0) return
    log('replicated set: +%d -%d', added.length, removed.length)
    const change = { added, removed }
    for (const l of listeners) {
      try {
        l(change)
      } catch (e) {
        log('follow listener threw: %O', e)
      }
    }
  }

  const scanFeed = async (feed: FeedId) => {
    for (let from = 1; ; from += SCAN_BATCH) {
      const texts = await deps.store.range(feed, from, from + SCAN_BATCH - 1)
      for (const t of texts) applyText(t)
      if (texts.length < SCAN_BATCH) return
    }
  }

  const scheduleScan = (feeds: FeedId[]) => {
    for (const f of feeds) scanned.add(f) // live messages from now on are seen by the subscription
    pending = pending.then(async () => {
      if (closed) return
      try {
        for (const f of feeds) {
          if (closed) return
          await scanFeed(f)
        }
      } catch (e) {
        // The store closed under a scan (the node is stopping): nothing left to follow.
        if (closed) return
        log('scan failed: %O', e)
      }
      recompute()
    })
  }

  const unsubscribe = deps.store.subscribe((messages) => {
    let relevant = false
    for (const m of messages) {
      const type = m.value.content.type
      if (type === 'contact' || type === 'blockfin/role') {
        apply(m.value)
        relevant = true
      }
    }
    if (relevant) recompute()
  })

  /** Scans can schedule more scans (hops > 1): wait until none is left. */
  const settled = async () => {
    for (let p = pending; ; p = pending) {
      await p
      if (p === pending) return
    }
  }

  recompute()
  await settled()

  return {
    followEveryone,
    replicates: (feed) => (followEveryone ? !blocked.has(feed) : distances.has(feed)),
    replicated: () => [...distances.keys()],
    distance: (feed) => distances.get(feed),
    isBlocked: (feed) => blocked.has(feed),
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    settled,
    close() {
      closed = true
      unsubscribe()
      listeners.clear()
    },
  }
}
