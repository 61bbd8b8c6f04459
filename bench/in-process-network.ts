/**
 * A relay and headless validators in this process, on loopback, all verifying on one worker pool,
 * each validator joined through the relay's invite link: the setup of the live headless bench and
 * of the tab-cost bench.
 */
import '../src/node/polyfills'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { type Relay, startRelay } from '../relay/src/relay'
import { openLevelAdapter } from '../relay/src/store/level-adapter'
import { type HeadlessValidator, startHeadlessValidator } from '../relay/src/validator'
import { createNodeHasher } from '../src/crypto/node'
import { createVerifyPool } from '../src/crypto/node-verify-pool'

export interface InProcessNetwork {
  readonly relay: Relay
  /** The relay's HTTP URL. */
  readonly url: string
  readonly invite: string
  readonly validators: readonly HeadlessValidator[]
  close(): Promise<void>
}

/** Data directories under `base`; the relay serves the app from `distDir`. */
export async function startInProcessNetwork(options: {
  base: string
  distDir: string
  validators: number
}): Promise<InProcessNetwork> {
  const pool = createVerifyPool()
  const hasher = createNodeHasher()
  const random = (n: number) => new Uint8Array(randomBytes(n))
  const started = await startRelay(
    {
      dataDir: join(options.base, 'relay'),
      distDir: options.distDir,
      host: '127.0.0.1',
      port: 0,
      tcpPort: 0,
    },
    { randomBytes: random, now: () => new Date(), ed25519: pool, hasher, openFeedAdapter: openLevelAdapter },
  )
  if (!started.ok) {
    await pool.close()
    throw new Error(`relay: ${JSON.stringify(started.error)}`)
  }
  const relay = started.value
  const url = `http://127.0.0.1:${relay.port}`
  const validators: HeadlessValidator[] = []
  const close = async () => {
    for (const v of validators) await v.stop().catch(() => undefined)
    await relay.close().catch(() => undefined)
    await pool.close()
  }
  try {
    for (let i = 0; i < options.validators; i++) {
      const v = await startHeadlessValidator(
        { dataDir: join(options.base, `v${i}`), relay: url },
        {
          ed25519: pool,
          hasher,
          randomBytes: random,
          now: () => Date.now(),
          fetch: (...a) => fetch(...a),
          openFeedAdapter: openLevelAdapter,
        },
      )
      if (!v.ok) throw new Error(`validator: ${JSON.stringify(v.error)}`)
      validators.push(v.value)
    }
    const invite = relay.inviteLink(url)!
    for (const v of validators) {
      const joined = await v.join(invite)
      if (!joined.ok) throw new Error(`join: ${JSON.stringify(joined.error)}`)
    }
    return { relay, url, invite, validators, close }
  } catch (e) {
    await close()
    throw e
  }
}
