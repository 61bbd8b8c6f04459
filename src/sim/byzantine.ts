/**
 * Byzantine behaviours for the simulator. Each wraps an honest core's outputs: it drops, alters
 * or adds what gets signed and sent. Every deliberate equivocation, fork or lie is recorded as an
 * act, so the invariants can demand evidence for each one.
 */
import {
  assembledContent,
  type BlockHeader,
  blockIdOf,
  buildHeader,
  CONTENT,
  ConsensusView,
  parseAssembled,
  parseQc,
  parseVote,
  qcContent,
  voteContent,
} from '../core/consensus'
import { createMessage, type VerifiedMessage } from '../core/feed/message'
import type { FeedId, MessageId } from '../core/identity/ids'
import { type Digest, digestFromBytes, merkleRootOfTexts } from '../core/merkle'
import type { Behaviour, Publish, SimNode } from './node'
import type { Prng } from './prng'

export type Act =
  | { kind: 'equivocation'; owner: FeedId; stage: string; height: number; round: number }
  | { kind: 'fork'; owner: FeedId; roleKey: FeedId; sequence: number }
  | { kind: 'lie'; owner: FeedId; qc: MessageId | undefined; lie: string }
  | { kind: 'gap'; owner: FeedId; height: number }
  | { kind: 'censor'; owner: FeedId; height: number }

export interface ByzantineContext {
  readonly prng: Prng
  readonly networkKey: Uint8Array
  record(act: Act): void
  /** All node indices but the given one. */
  peers(of: number): readonly number[]
  send(from: number, to: number, texts: readonly string[]): void
  now(): number
}

const fakeDigest = (prng: Prng): Digest => digestFromBytes(prng.bytes(32))

const isVote = (p: Publish) => p.content.type === CONTENT.precommit || p.content.type === CONTENT.commit

/** The conflicting version of a vote: a block becomes nil, nil becomes a block nobody proposed. */
function conflicting(p: Publish, prng: Prng): Publish {
  const v = parseVote(p.content)!
  return { ...p, content: voteContent({ ...v, block: v.block === null ? fakeDigest(prng) : null }) }
}

/** Signs two different votes for one (height, round, stage), one after the other in its feed. */
export function equivocating(ctx: ByzantineContext): Behaviour {
  return {
    name: 'equivocate',
    relays: true,
    transform(node, publishes) {
      const out: Publish[] = []
      for (const p of publishes) {
        out.push(p)
        if (isVote(p) && ctx.prng.chance(0.5)) {
          const v = parseVote(p.content)!
          out.push(conflicting(p, ctx.prng))
          ctx.record({
            kind: 'equivocation',
            owner: node.owner,
            stage: v.stage,
            height: v.height,
            round: v.round,
          })
        }
      }
      return out
    },
  }
}

/** Forks a vote feed: a second message at the same sequence goes to half of the peers. */
export function forking(ctx: ByzantineContext): Behaviour {
  let forks = 0
  return {
    name: 'fork',
    relays: true,
    async send(node, message) {
      const content = message.value.content
      if (forks >= 2 || !(content.type === CONTENT.precommit || content.type === CONTENT.commit)) return false
      if (!ctx.prng.chance(0.3)) return false
      const role = content.type === CONTENT.precommit ? 'precommitter' : 'committer'
      const { sequence, previous } = message.value
      const alternative = await createMessage(
        {
          keys: node.roleKey(role),
          head: previous === null ? null : { sequence: sequence - 1, id: previous },
          content: conflicting({ kind: 'publish', role, content }, ctx.prng).content,
          timestamp: ctx.now(),
          networkKey: ctx.networkKey,
        },
        node.ed25519,
      )
      if (!alternative.ok) return false
      forks++
      ctx.record({ kind: 'fork', owner: node.owner, roleKey: message.value.author, sequence })
      const peers = ctx.prng.shuffle(ctx.peers(node.index))
      const half = Math.ceil(peers.length / 2)
      for (const p of peers.slice(0, half)) ctx.send(node.index, p, [message.text])
      for (const p of peers.slice(half)) ctx.send(node.index, p, [alternative.value.text])
      return true
    },
  }
}

/** Never votes; never relays. */
export function withholdingValidator(): Behaviour {
  return {
    name: 'withhold',
    relays: false,
    transform: (_node, publishes) => publishes.filter((p) => !isVote(p) && p.content.type !== CONTENT.seal),
  }
}

/** Puts a transfer with a forged signature into its transaction feed, and otherwise behaves. */
export function forgingValidator(ctx: ByzantineContext, victim: FeedId, recipient: FeedId): Behaviour {
  let forged = 0
  return {
    name: 'forge',
    relays: true,
    transform(_node, publishes) {
      if (forged >= 1 || !publishes.some(isVote)) return publishes
      forged++
      const fake = {
        type: 'transfer',
        from: victim,
        to: recipient,
        amount: 1,
        nonce: 1,
        signature: `${Buffer.from(ctx.prng.bytes(64)).toString('base64')}.sig.ed25519`,
      }
      return [
        ...publishes,
        { kind: 'publish', role: 'transaction-validator', content: { type: CONTENT.tx, txs: [fake] } },
      ]
    },
  }
}

/** A Messagenode that publishes nothing (no blocks, no QCs) and relays nothing. */
export function withholdingMessagenode(): Behaviour {
  return {
    name: 'withhold',
    relays: false,
    transform: (_node, publishes) =>
      publishes.filter(
        (p) =>
          p.content.type !== CONTENT.assembled &&
          p.content.type !== CONTENT.qc &&
          p.content.type !== CONTENT.emptyBlock,
      ),
  }
}

/** The frontier a block's parent leaves, as far as this node knows it. */
function parentFrontier(view: ConsensusView<unknown, unknown>, parent: Digest) {
  const direct = view.frontierOf(parent)
  if (direct) return direct
  const header = view.headers.get(parent)
  const grand = header && view.frontierOf(header.parent)
  return grand && header ? ConsensusView.frontierAfter(grand, header) : undefined
}

function viewOf(node: SimNode): ConsensusView<unknown, unknown> {
  return node.core!.view as ConsensusView<unknown, unknown>
}

function rewriteAssembled(p: Publish, header: BlockHeader): Publish {
  const a = parseAssembled(p.content)!
  return { ...p, content: assembledContent({ ...a, header, block: blockIdOf(header) }) }
}

/** Leaves one validator's transactions out of every block it assembles. */
export function censoringMessagenode(ctx: ByzantineContext, victimFeed: FeedId): Behaviour {
  return {
    name: 'censor',
    relays: true,
    transform(node, publishes) {
      const out: Publish[] = []
      for (const p of publishes) {
        const a = p.content.type === CONTENT.assembled ? parseAssembled(p.content) : undefined
        if (!a || a.validRound !== -1 || !a.header.cuts.some((c) => c.feed === victimFeed)) {
          out.push(p)
          continue
        }
        const view = viewOf(node)
        const frontier = parentFrontier(view, a.header.parent)
        const set = view.setAt(a.height)
        const header =
          frontier &&
          set &&
          buildHeader(view, a.height, a.header.parent, frontier, set, new Set([victimFeed]))
        ctx.record({ kind: 'censor', owner: node.owner, height: a.height })
        if (header) out.push(rewriteAssembled(p, header))
      }
      return out
    },
  }
}

/** Assembles blocks whose cut skips a transaction (a gap): validators must refuse them. */
export function gappingMessagenode(ctx: ByzantineContext): Behaviour {
  return {
    name: 'gap',
    relays: true,
    transform(node, publishes) {
      return publishes.map((p) => {
        const a = p.content.type === CONTENT.assembled ? parseAssembled(p.content) : undefined
        const cut = a?.header.cuts.find((c) => c.to > c.from)
        if (!a || !cut || a.validRound !== -1) return p
        const view = viewOf(node)
        const cuts = a.header.cuts.map((c) => (c === cut ? { ...c, from: c.from + 1 } : c))
        const ids: string[] = []
        let count = 0
        for (const c of cuts)
          for (let s = c.from; s <= c.to; s++) {
            const e = view.txFeeds.get(c.feed)?.get(s)
            if (!e) return p
            ids.push(e.id)
            count += e.items.length
          }
        ctx.record({ kind: 'gap', owner: node.owner, height: a.height })
        return rewriteAssembled(p, { ...a.header, cuts, txCount: count, txRoot: merkleRootOfTexts(ids) })
      })
    },
  }
}

/** Publishes QCs that the votes they link contradict. */
export function lyingMessagenode(ctx: ByzantineContext): Behaviour {
  return {
    name: 'lie',
    relays: true,
    transform(node, publishes) {
      return publishes.map((p) => {
        const qc = p.content.type === CONTENT.qc ? parseQc(p.content) : undefined
        if (!qc || !ctx.prng.chance(0.5)) return p
        const lie = ctx.prng.pick(['block', 'too-few', 'sig-root'] as const)
        const forged =
          lie === 'block'
            ? { ...qc, block: fakeDigest(ctx.prng) }
            : lie === 'too-few'
              ? { ...qc, votes: qc.votes.slice(0, qc.votes.length - 1) }
              : { ...qc, sigRoot: fakeDigest(ctx.prng) }
        ctx.record({ kind: 'lie', owner: node.owner, qc: undefined, lie })
        return { ...p, content: qcContent(forged) }
      })
    },
  }
}

export type { VerifiedMessage }
