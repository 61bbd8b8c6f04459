/**
 * The relay's command line: `npm start` (after `vite build`) runs this. It serves the app, the
 * HTTP API and libp2p WebSockets on PORT (default 8080), libp2p TCP on BLOCKFIN_TCP_PORT (default
 * PORT + 1), with the network kept in BLOCKFIN_DATA_DIR (default <repo>/.data/relay), and keeps
 * connected to the relays in BLOCKFIN_PEER_RELAYS. BLOCKFIN_JOIN=<http url of a relay> makes a new
 * data directory join that relay's network instead of creating one. Stops cleanly on SIGINT/SIGTERM.
 */
import '../../src/node/polyfills'
import { randomBytes } from 'node:crypto'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNodeHasher } from '../../src/crypto/node'
import { createVerifyPool } from '../../src/crypto/node-verify-pool'
import { describeDataDirError } from './data-dir'
import { describeInviteBookError } from './invites'
import { type Relay, type RelayStartError, startRelay } from './relay'
import { openLevelAdapter } from './store/level-adapter'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

function fail(message: string): never {
  console.error(`relay: ${message}`)
  process.exit(1)
}

function parsePort(text: string | undefined): number {
  if (text === undefined || text === '') return 8080
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be 0..65535, not "${text}"`)
  return port
}

function describe(error: RelayStartError): string {
  switch (error.code) {
    case 'FEED_STORE_UNAVAILABLE':
      return (
        `cannot open the feed store at ${error.path}: ${error.reason}. ` +
        'Is another relay running on the same data directory?'
      )
    case 'LISTEN_FAILED':
      return `cannot listen on ${error.host}:${error.port}: ${error.reason}. Set PORT to a free port.`
    case 'JOIN_FAILED':
      return `cannot join the network of ${error.from}: ${error.reason}`
    case 'P2P_FAILED':
      return `cannot start libp2p: ${error.reason}. Set BLOCKFIN_TCP_PORT to a free port, or check BLOCKFIN_PEER_RELAYS.`
    case 'ROLE_CERT_PUBLISH_FAILED':
      return `cannot publish the ${error.role} certificate: ${error.cause.code}`
    case 'INVITE_UNKNOWN':
    case 'INVITE_EXPIRED':
    case 'INVITE_REVOKED':
    case 'INVITE_EXHAUSTED':
    case 'INVITE_BAD_OPTIONS':
    case 'INVITES_FILE_INVALID':
      return describeInviteBookError(error)
    default:
      return describeDataDirError(error)
  }
}

const host = process.env.HOST || '0.0.0.0'
const port = parsePort(process.env.PORT)
const tcpPort = process.env.BLOCKFIN_TCP_PORT ? parsePort(process.env.BLOCKFIN_TCP_PORT) : undefined
const list = (text: string | undefined) =>
  (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
const peerRelays = list(process.env.BLOCKFIN_PEER_RELAYS)
const announce = list(process.env.BLOCKFIN_ANNOUNCE)
const joinUrl = process.env.BLOCKFIN_JOIN || undefined
const dataDir = resolve(process.env.BLOCKFIN_DATA_DIR || resolve(repoRoot, '.data/relay'))

// Signals are handled from the very start, so a stop during start-up still closes the store cleanly.
let relay: Relay | undefined
let stopping: NodeJS.Signals | undefined
async function stop(): Promise<void> {
  if (!relay) return // still starting: stopped as soon as it is up
  try {
    await relay.close()
    process.exit(0)
  } catch (e) {
    console.error(`relay: error while stopping: ${(e as Error).message}`)
    process.exit(1)
  }
}
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) {
    console.error(`relay: ${signal} again, exiting without waiting`)
    process.exit(1)
  }
  stopping = signal
  console.log(`relay: ${signal}, stopping`)
  void stop()
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

const started = await startRelay(
  {
    dataDir,
    distDir: resolve(repoRoot, 'dist'),
    host,
    port,
    ...(tcpPort !== undefined ? { tcpPort } : {}),
    peerRelays,
    ...(announce.length > 0 ? { announce } : {}),
    ...(joinUrl ? { join: joinUrl } : {}),
    ...(process.env.BLOCKFIN_ORIGIN ? { origin: process.env.BLOCKFIN_ORIGIN } : {}),
  },
  {
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
    now: () => new Date(),
    // Signature checks on worker threads: replication and consensus verify on every core.
    ed25519: createVerifyPool(),
    hasher: createNodeHasher(),
    openFeedAdapter: openLevelAdapter,
  },
)
if (!started.ok) fail(describe(started.error))
relay = started.value

const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host
console.log(
  `BlockfinBFT relay ${relay.createdNetwork ? '(created a new network)' : relay.network.joined ? `(joined from ${relay.network.joined.from})` : ''}`.trim(),
)
console.log(`  network  ${relay.network.name}  ${relay.network.id}`)
console.log(`  relay    ${relay.relayKeys.id}`)
console.log(`  data     ${relay.dataDir}`)
if (relay.net) {
  console.log(`  peer     ${relay.net.p2p.peerId}`)
  for (const addr of relay.net.p2p.multiaddrs()) console.log(`  libp2p   ${addr}`)
  for (const target of [...peerRelays, ...(joinUrl && !peerRelays.includes(joinUrl) ? [joinUrl] : [])])
    console.log(`  follows  ${target}`)
}
console.log(`  open     http://${shownHost}:${relay.port}`)
const invite = relay.inviteLink(process.env.BLOCKFIN_ORIGIN || `http://${shownHost}:${relay.port}`)
if (invite) {
  console.log(`  invite   ${invite}`)
  console.log(
    '           (one link admits several participants: share it; npm run invite -- list|create|revoke)',
  )
}
if (relay.consensus.validator) {
  const { n, f, q } = relay.consensus.validator.view.membership.latest().set
  console.log(
    `  seal     ${n} validator(s), f = ${f}, quorum ${q}${f === 0 ? ' (fewer than 4: every validator must sign)' : ''}`,
  )
}
if (stopping) await stop()
