/** Real-part dependencies shared by the live consensus tests (relays and headless validators). */
import { randomBytes } from 'node:crypto'
import { openLevelAdapter } from '../../relay/src/store/level-adapter'
import { createNodeHasher, createSodiumBackend } from '../../src/crypto/node'

export const ed25519 = createSodiumBackend()
const hasher = createNodeHasher()

export const relayDeps = {
  randomBytes: (n: number) => new Uint8Array(randomBytes(n)),
  now: () => new Date(),
  ed25519,
  hasher,
  openFeedAdapter: openLevelAdapter,
}

export const validatorDeps = {
  ed25519,
  hasher,
  randomBytes: (n: number) => new Uint8Array(randomBytes(n)),
  now: () => Date.now(),
  fetch: (...a: Parameters<typeof fetch>) => fetch(...a),
  openFeedAdapter: openLevelAdapter,
}

/** Polls `condition` every 20 ms; throws naming `what` after `ms`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 60_000,
): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`never happened within ${ms} ms: ${what}`)
}
