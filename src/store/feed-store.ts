import createDebug from 'debug'
import type { Ed25519Backend } from '../core/crypto/ed25519'
import {
  type CheckedFields,
  checkMessageFields,
  completeDecoded,
  type DecodedMessage,
} from '../core/feed/decode'
import type { FeedError } from '../core/feed/errors'
import type { ForkEvidence } from '../core/feed/evidence'
import { type MessageHasher, nobleHasher } from '../core/feed/hasher'
import {
  createMessage,
  type FeedHead,
  type MessageContent,
  messageIdOfText,
  type VerifiedMessage,
} from '../core/feed/message'
import { type FeedId, messageIdFromHash } from '../core/identity/ids'
import type { KeyPair } from '../core/identity/keys'
import { err, ok, type Result } from '../core/result'
import type { FeedStorageAdapter, MessageRecord } from './adapter'
import { TailCache } from './tail-cache'

const log = createDebug('blockfin:store')

const isSequence = (n: number) => Number.isSafeInteger(n) && n >= 1

export type StoreError = { code: 'STORE_WRITE_FAILED'; reason: string } | { code: 'STORE_CLOSED' }
export type AppendError = FeedError | StoreError
export type AppendOutcome = Result<VerifiedMessage, AppendError>

export interface FeedStoreOptions {
  /** The network key every signature is HMAC-bound to; null only for plain SSB interop tests. */
  readonly networkKey: Uint8Array | null
  /** Most messages validated and committed together (one transaction, one verify batch). */
  readonly maxBatch?: number
  /**
   * The newest committed messages kept in memory per recently appended feed, for the reads of
   * live replication (default 64; 0 turns the cache off), and the characters kept in all (default 8 Mi).
   */
  readonly tailMessages?: number
  readonly tailChars?: number
  /**
   * A write holding only received messages waits this long for more (default 0: at once). Their
   * acknowledgement and their replication onward wait with it, but where the consensus core takes
   * received messages once checked (subscribeAccepted) nothing else does, and fewer, larger writes
   * cost a tab less: 20 ms took the CPU a message costs a tab from about 6.4 to 5.2 ms.
   */
  readonly receivedWriteDelayMs?: number
}

export interface FeedStoreDeps {
  readonly adapter: FeedStorageAdapter
  readonly ed25519: Ed25519Backend
  /** Message ids and network HMACs for whole batches; the platform's native hashing where it has one. */
  readonly hasher?: MessageHasher
  /** Authors outside the registry are refused with UNKNOWN_AUTHOR; absent means all are accepted. */
  readonly isKnownAuthor?: (author: FeedId) => boolean
  /** Waits `ms` (receivedWriteDelayMs); setTimeout by default. */
  readonly wait?: (ms: number) => Promise<void>
}

interface PreparedBatch {
  readonly jobs: Job[]
  readonly outcomes: Map<Job, AppendOutcome>
  /** Ingested messages that decoded and whose signature verified. */
  readonly decoded: Map<Job, DecodedMessage>
}

type Job =
  | { kind: 'ingest'; text: unknown; resolve: (outcome: AppendOutcome) => void }
  | {
      kind: 'publish'
      keys: KeyPair
      content: MessageContent
      timestamp: number
      resolve: (outcome: AppendOutcome) => void
    }

// Distributes over the union so each job kind keeps its own fields.
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
type JobInput = DistributiveOmit<Job, 'resolve'>

export type AppendListener = (messages: readonly VerifiedMessage[]) => void

/** Checked messages waiting for one durable write, with the jobs they answer. */
interface CommitGroup {
  readonly records: MessageRecord[]
  readonly heads: Map<FeedId, FeedHead>
  readonly evidence: ForkEvidence[]
  readonly answers: (readonly [Job, AppendOutcome])[]
  readonly added: VerifiedMessage[]
}

/**
 * Answers jobs whose write did not happen: what was to be stored (and forks whose evidence was to
 * be written) gets `failure`; refusals (gaps, duplicates, bad signatures) keep their answer.
 */
function answerUnwritten(answers: Iterable<readonly [Job, AppendOutcome]>, failure: AppendOutcome): void {
  for (const [job, outcome] of answers)
    job.resolve(outcome.ok || outcome.error.code === 'FEED_FORK' ? failure : outcome)
}

const textKey = (author: FeedId, sequence: number) => `${author}:${sequence}`

/**
 * Signed append-only feeds over any storage adapter. Every message is validated (shape, bytes,
 * signature, sequence, previous) before it is stored; nothing is acknowledged before it is durable.
 * Appends queue up in batches: one signature batch each, then the chain rules in order against
 * the heads including what is checked but not yet durable, and the checked batches go to disk
 * together, one durable write for all that gathered while the previous write ran.
 */
export class FeedStore {
  private readonly heads = new Map<FeedId, FeedHead>()
  /** Heads and texts of messages that passed every check and wait for their durable write. */
  private readonly pendingHeads = new Map<FeedId, FeedHead>()
  private readonly pendingTexts = new Map<string, string>()
  private readonly acceptListeners = new Set<AppendListener>()
  private filling: CommitGroup | null = null
  private committing: Promise<void> | null = null
  private epoch = 0
  private readonly forked = new Set<FeedId>()
  private readonly evidenceKeys = new Set<string>()
  private readonly evidenceList: ForkEvidence[] = []
  private readonly queue: Job[] = []
  private readonly listeners = new Set<AppendListener>()
  private readonly maxBatch: number
  private readonly hasher: MessageHasher
  private readonly tail: TailCache
  private draining: Promise<void> | null = null
  /** Set after a failed write: it may have reached the disk anyway, so heads are re-read before signing again. */
  private headsStale = false
  private closed = false

  private constructor(
    private readonly options: FeedStoreOptions,
    private readonly deps: FeedStoreDeps,
  ) {
    this.maxBatch = options.maxBatch ?? 1000
    this.hasher = deps.hasher ?? nobleHasher
    this.tail = new TailCache(options.tailMessages ?? 64, options.tailChars ?? 8 * 1024 * 1024)
  }

  static async open(options: FeedStoreOptions, deps: FeedStoreDeps): Promise<FeedStore> {
    const store = new FeedStore(options, deps)
    for (const h of await deps.adapter.readHeads())
      store.heads.set(h.author, { sequence: h.sequence, id: h.id })
    for (const e of await deps.adapter.readEvidence()) store.rememberEvidence(e)
    return store
  }

  /** Validates and stores messages received from elsewhere, each exactly as received. */
  append(texts: readonly unknown[]): Promise<AppendOutcome[]> {
    return Promise.all(texts.map((text) => this.enqueue({ kind: 'ingest', text })))
  }

  appendOne(text: unknown): Promise<AppendOutcome> {
    return this.enqueue({ kind: 'ingest', text })
  }

  /** Signs `content` as the next message of `keys`' own feed and stores it. */
  publish(keys: KeyPair, content: MessageContent, timestamp: number): Promise<AppendOutcome> {
    return this.enqueue({ kind: 'publish', keys, content, timestamp })
  }

  head(author: FeedId): FeedHead | undefined {
    return this.heads.get(author)
  }

  /** The vector clock: every feed's latest durable sequence and id. */
  vectorClock(): Map<FeedId, FeedHead> {
    return new Map(this.heads)
  }

  async get(author: FeedId, sequence: number): Promise<string | undefined> {
    const head = this.heads.get(author)
    if (!isSequence(sequence) || !head || sequence > head.sequence) return undefined
    return this.tail.read(author, sequence, sequence)?.[0] ?? this.deps.adapter.readMessage(author, sequence)
  }

  /** Messages `from..to` inclusive (clamped to the head), exactly as signed. */
  async range(author: FeedId, from: number, to = Number.MAX_SAFE_INTEGER): Promise<string[]> {
    const head = this.heads.get(author)
    if (Number.isNaN(from) || Number.isNaN(to)) return []
    const last = Math.min(Math.floor(to), head ? head.sequence : 0)
    const first = Math.max(1, Math.ceil(from))
    if (first > last) return []
    return this.tail.read(author, first, last) ?? this.deps.adapter.readRange(author, first, last)
  }

  /**
   * Messages `from..to` as verified messages, for replaying the store into a core. Everything
   * stored passed every check when it was appended, so only what replay needs is computed: the id
   * (one native hash per message, in a batch) and the parsed value; no network HMAC, no signature
   * check and no canonical re-encoding, which made a replay cost as much as the first append.
   */
  async rangeVerified(
    author: FeedId,
    from: number,
    to = Number.MAX_SAFE_INTEGER,
  ): Promise<VerifiedMessage[]> {
    const texts = await this.range(author, from, to)
    const hashes = await this.hasher.idHashes(texts)
    return texts.map((text, i) => ({
      id: messageIdFromHash(hashes[i]!),
      text,
      value: JSON.parse(text) as VerifiedMessage['value'],
    }))
  }

  evidence(): readonly ForkEvidence[] {
    return this.evidenceList
  }

  isForked(author: FeedId): boolean {
    return this.forked.has(author)
  }

  /** Called after every durable commit with the messages it added. */
  subscribe(listener: AppendListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * Called with received messages (not this store's own publishes) once they passed every check,
   * before their durable write: a consumer that only reads them (a consensus core counting votes)
   * need not wait for the disk. In feed order, each once per acceptance; a write that fails drops
   * them again, so the same messages can be accepted a second time once they are sent again.
   */
  subscribeAccepted(listener: AppendListener): () => void {
    this.acceptListeners.add(listener)
    return () => this.acceptListeners.delete(listener)
  }

  async close(): Promise<void> {
    this.closed = true
    await this.draining
    while (this.committing) await this.committing
    await this.deps.adapter.close()
  }

  private enqueue(job: JobInput): Promise<AppendOutcome> {
    if (this.closed) return Promise.resolve(err({ code: 'STORE_CLOSED' }))
    return new Promise((resolve) => {
      this.queue.push({ ...job, resolve })
      this.draining ??= this.drain()
    })
  }

  private async drain(): Promise<void> {
    try {
      // Yield once, so that every job enqueued in the same synchronous run (append's map, a burst
      // of publishes) joins the first batch instead of the first job committing alone.
      await Promise.resolve()
      // A pipeline: batch k + 1 is decoded and signature-checked (stateless, the costly part)
      // while batch k goes through the chain rules; the durable writes run behind both.
      let checking: Promise<void> = Promise.resolve()
      // Jobs can arrive while the last batch is checked: look again after it, and stop only when the
      // queue is empty with nothing in flight (no await between that check and `draining = null`).
      for (;;) {
        while (this.queue.length > 0) {
          const jobs = this.queue.splice(0, this.maxBatch)
          const prepared = this.prepare(jobs)
          const previous = checking
          checking = (async () => {
            try {
              const batch = await prepared
              await previous
              await this.check(batch)
            } catch (e) {
              // A storage read (duplicate or fork check: IndexedDB closed under us, a disk error) or
              // a signing call threw before the commit. Answer every job of the batch instead of
              // leaving it pending forever, and go on with the queue.
              const failure = err({ code: 'STORE_WRITE_FAILED' as const, reason: (e as Error).message })
              for (const job of jobs) job.resolve(failure)
              this.headsStale = true
            }
          })()
          await previous
        }
        await checking
        if (this.queue.length === 0) break
      }
    } finally {
      this.draining = null
    }
  }

  /** Stage 1, stateless: decode, drop exact duplicates of stored messages, verify signatures in one batch. */
  private async prepare(jobs: Job[]): Promise<PreparedBatch> {
    const { networkKey } = this.options
    const outcomes = new Map<Job, AppendOutcome>()
    const checked: [Job, CheckedFields][] = []
    for (const job of jobs) {
      if (job.kind !== 'ingest') continue
      const fields = checkMessageFields(job.text)
      if (!fields.ok) outcomes.set(job, fields)
      else if (this.deps.isKnownAuthor && !this.deps.isKnownAuthor(fields.value.value.author))
        outcomes.set(job, err({ code: 'UNKNOWN_AUTHOR', author: fields.value.value.author }))
      else checked.push([job, fields.value])
    }
    const [idHashes, signed] = await Promise.all([
      this.hasher.idHashes(checked.map(([, f]) => f.text)),
      this.hasher.signedBytes(
        checked.map(([, f]) => f.unsigned),
        networkKey,
      ),
    ])
    const decoded = new Map<Job, DecodedMessage>()
    for (const [i, [job, fields]] of checked.entries()) {
      const d = completeDecoded(fields, idHashes[i]!, signed[i]!)
      const { author, sequence } = d.value
      const head = this.heads.get(author)
      // Drop exact duplicates of stored messages without any signature work.
      if (
        head &&
        sequence <= head.sequence &&
        (await this.deps.adapter.readMessage(author, sequence)) === d.text
      ) {
        outcomes.set(job, err({ code: 'FEED_DUPLICATE', author, sequence, id: d.id }))
        continue
      }
      decoded.set(job, d)
    }
    const candidates = [...decoded.entries()]
    const valid = await this.deps.ed25519.verifyBatch(candidates.map(([, d]) => d.verify))
    candidates.forEach(([job, d], i) => {
      if (!valid[i]) {
        outcomes.set(
          job,
          err({ code: 'SIGNATURE_INVALID', author: d.value.author, sequence: d.value.sequence }),
        )
        decoded.delete(job)
      }
    })
    return { jobs, outcomes, decoded }
  }

  /**
   * Stage 2, in batch order: the chain rules against the heads including checked messages not yet
   * durable, signing own messages; the batch then joins the next durable write.
   */
  private async check({ jobs, outcomes, decoded }: PreparedBatch): Promise<void> {
    const { networkKey } = this.options
    if (this.headsStale) {
      // Never sign a sequence twice: a write that reported failure may still have landed. Writes
      // still in flight settle first (what was checked against a failed one is never written).
      while (this.committing) await this.committing
      const stored = await this.deps.adapter.readHeads() // if this throws, the batch fails and heads stay
      this.heads.clear()
      for (const h of stored) this.heads.set(h.author, { sequence: h.sequence, id: h.id })
      this.headsStale = false
    }
    const epoch = this.epoch
    // 3. Apply the chain rules in arrival order against heads that include this batch.
    const working = new Map<FeedId, FeedHead>()
    const pending = new Map<string, string>()
    const records: MessageRecord[] = []
    const evidence: ForkEvidence[] = []
    const headOf = (a: FeedId) => working.get(a) ?? this.pendingHeads.get(a) ?? this.heads.get(a)
    const textAt = async (a: FeedId, s: number) =>
      pending.get(textKey(a, s)) ??
      this.pendingTexts.get(textKey(a, s)) ??
      (await this.deps.adapter.readMessage(a, s))
    const accept = (message: VerifiedMessage) => {
      const { author, sequence } = message.value
      working.set(author, { sequence, id: message.id })
      pending.set(textKey(author, sequence), message.text)
      records.push({ author, sequence, id: message.id, text: message.text })
    }
    const received: VerifiedMessage[] = []
    for (const job of jobs) {
      if (job.kind === 'publish') {
        const head = headOf(job.keys.id) ?? null
        const created = await createMessage(
          { keys: job.keys, head, content: job.content, timestamp: job.timestamp, networkKey },
          this.deps.ed25519,
          this.hasher,
        )
        if (created.ok) accept(created.value)
        outcomes.set(job, created)
        continue
      }
      const d = decoded.get(job)
      if (!d) continue
      const { author, sequence, previous } = d.value
      const head = headOf(author)
      const headSequence = head ? head.sequence : 0
      if (sequence === headSequence + 1) {
        if (previous === (head ? head.id : null)) {
          accept(d)
          received.push(d)
          outcomes.set(job, ok(d))
        } else {
          const ours = (await textAt(author, headSequence))!
          const e = this.recordFork(evidence, 'previous-mismatch', author, headSequence, ours, d.text)
          outcomes.set(job, err({ code: 'FEED_FORK', author, sequence, evidence: e }))
        }
      } else if (sequence > headSequence + 1) {
        outcomes.set(job, err({ code: 'FEED_GAP', author, expected: headSequence + 1, sequence }))
      } else {
        const ours = (await textAt(author, sequence))!
        if (ours === d.text) {
          outcomes.set(job, err({ code: 'FEED_DUPLICATE', author, sequence, id: d.id }))
        } else {
          const e = this.recordFork(evidence, 'same-sequence', author, sequence, ours, d.text)
          outcomes.set(job, err({ code: 'FEED_FORK', author, sequence, evidence: e }))
        }
      }
    }
    const answers = jobs.map((job) => [job, outcomes.get(job)!] as const)
    if (epoch !== this.epoch) {
      // A write failed while this batch was checked against its messages: nothing here is sure.
      answerUnwritten(answers, err({ code: 'STORE_WRITE_FAILED', reason: 'an earlier write failed' }))
      return
    }
    for (const [author, h] of working) this.pendingHeads.set(author, h)
    for (const r of records) this.pendingTexts.set(textKey(r.author, r.sequence), r.text)
    this.filling ??= { records: [], heads: new Map(), evidence: [], answers: [], added: [] }
    const group = this.filling
    group.records.push(...records)
    for (const [author, h] of working) group.heads.set(author, h)
    group.evidence.push(...evidence)
    group.answers.push(...answers)
    for (const [, o] of answers) if (o.ok) group.added.push(o.value)
    this.committing ??= this.writeGroups()
    if (received.length > 0)
      for (const listener of this.acceptListeners) {
        try {
          listener(received)
        } catch (e) {
          log('accept listener threw: %O', e)
        }
      }
  }

  /** Stage 3, in order: one durable write per group; acknowledge only after it. */
  private async writeGroups(): Promise<void> {
    await Promise.resolve() // let the check that started this finish filling its group
    const delay = this.options.receivedWriteDelayMs ?? 0
    // Own messages never wait: they go out only once durable.
    if (delay > 0 && this.filling?.answers.every(([job]) => job.kind === 'ingest'))
      await (this.deps.wait ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms))))(delay)
    while (this.filling) {
      const group = this.filling
      this.filling = null
      await this.writeGroup(group)
    }
    this.committing = null
  }

  private async writeGroup(group: CommitGroup): Promise<void> {
    const { records, heads, evidence, answers } = group
    if (records.length > 0 || evidence.length > 0) {
      try {
        await this.deps.adapter.commit({
          messages: records,
          heads: [...heads].map(([author, h]) => ({ author, sequence: h.sequence, id: h.id })),
          evidence,
        })
      } catch (e) {
        // Accepted messages and forks whose evidence was to be written are not durable: say so,
        // and fail the group checked against them too (it is never written).
        const failure = err({ code: 'STORE_WRITE_FAILED' as const, reason: (e as Error).message })
        answerUnwritten(answers, failure)
        if (this.filling) answerUnwritten(this.filling.answers, failure)
        this.filling = null
        this.epoch++
        this.pendingHeads.clear()
        this.pendingTexts.clear()
        this.headsStale = true
        return
      }
      for (const [author, h] of heads) {
        this.heads.set(author, h)
        if (this.pendingHeads.get(author) === h) this.pendingHeads.delete(author)
      }
      for (const r of records) {
        this.tail.add(r.author, r.sequence, r.text)
        this.pendingTexts.delete(textKey(r.author, r.sequence))
      }
      for (const e of evidence) this.rememberEvidence(e)
    }
    for (const [job, outcome] of answers) job.resolve(outcome)
    if (group.added.length > 0) {
      for (const listener of this.listeners) {
        try {
          listener(group.added)
        } catch (e) {
          // A subscriber's bug must not fail appends that are already durable and answered.
          log('append listener threw: %O', e)
        }
      }
    }
  }

  private recordFork(
    batch: ForkEvidence[],
    kind: ForkEvidence['kind'],
    author: FeedId,
    sequence: number,
    ours: string,
    theirs: string,
  ): ForkEvidence {
    const e: ForkEvidence = {
      type: 'blockfin/fork-evidence',
      version: 1,
      kind,
      author,
      sequence,
      messages: [ours, theirs],
    }
    if (!this.evidenceKeys.has(evidenceKey(e)) && !batch.some((b) => evidenceKey(b) === evidenceKey(e)))
      batch.push(e)
    return e
  }

  private rememberEvidence(e: ForkEvidence): void {
    const k = evidenceKey(e)
    if (this.evidenceKeys.has(k)) return
    this.evidenceKeys.add(k)
    this.evidenceList.push(e)
    this.forked.add(e.author)
  }
}

const evidenceKey = (e: ForkEvidence) => `${e.author}:${e.sequence}:${messageIdOfText(e.messages[1])}`
