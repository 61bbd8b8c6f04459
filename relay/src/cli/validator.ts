/**
 * `npm run validator -- --relay <multiaddr or http url> [--data <dir>]`: a headless validator
 * (relay/src/validator.ts) until SIGINT/SIGTERM.
 *
 * Options:
 *   --relay <target>        the relay: its HTTP URL (http://host:8080) or a multiaddr
 *                           (/ip4/…/tcp/8081/p2p/12D3… for TCP, …/tcp/8080/ws/p2p/… for WebSockets)
 *   --data <dir>            data directory (default <repo>/.data/validator)
 *   --append <n>            sign n test messages into its own feed after start
 *   --until-messages <n>    exit 0 once the store holds at least n messages (all feeds): benchmarks
 *   --invite <link>         join the validator set with an invite link (printed by the relay,
 *                           shown on its page); waits until the admission is sealed
 *   --tx-interval-ms <ms>   least time between two of its transaction messages while transfers
 *                           keep coming (default 100; 0 sends each group at once, for a script
 *                           that awaits every single transfer before sending the next)
 *   --quiet                 print only the start banner and errors
 */
import '../../../src/node/polyfills'
import { randomBytes } from 'node:crypto'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createNodeHasher } from '../../../src/crypto/node'
import { createVerifyPool } from '../../../src/crypto/node-verify-pool'
import { openLevelAdapter } from '../store/level-adapter'
import { type HeadlessValidator, startHeadlessValidator, type ValidatorStartError } from '../validator'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

function fail(message: string): never {
  console.error(`validator: ${message}`)
  process.exit(1)
}

function describe(error: ValidatorStartError): string {
  switch (error.code) {
    case 'RELAY_TARGET_INVALID':
      return `--relay ${error.target}: ${error.reason}`
    case 'NETWORK_UNAVAILABLE':
      return `cannot get the network: ${error.reason}`
    case 'NETWORK_INVALID':
      return `the relay's network does not check out: ${error.reason}`
    case 'NETWORK_MISMATCH':
      return `this data directory belongs to network ${error.cached}, the relay serves ${error.relay}. Use another --data.`
    case 'FEED_STORE_UNAVAILABLE':
      return `cannot open the feed store at ${error.path}: ${error.reason}. Is another validator using --data?`
    case 'P2P_FAILED':
      return `cannot start libp2p: ${error.reason}`
    case 'KEY_FILE_PERMISSIONS':
      return `key file ${error.path} has mode ${error.mode}; make it private: chmod 600 ${error.path}`
    case 'KEY_FILE_INVALID':
      return `key file ${error.path} is invalid: ${error.reason}`
    case 'DATA_DIR_UNUSABLE':
      return `data directory ${error.path} cannot be used: ${error.reason}`
    case 'GENESIS_INVALID':
      return `the network's genesis cannot run consensus: ${error.reason}`
  }
}

const count = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, not "${text}"`)
  return n
}

let args: ReturnType<typeof parse>
function parse() {
  return parseArgs({
    options: {
      relay: { type: 'string' },
      data: { type: 'string' },
      append: { type: 'string' },
      'until-messages': { type: 'string' },
      quiet: { type: 'boolean' },
      invite: { type: 'string' },
      'tx-interval-ms': { type: 'string' },
    },
    strict: true,
  })
}
try {
  args = parse()
} catch (e) {
  fail((e as Error).message)
}
const relayTarget = args.values.relay ?? fail('--relay <multiaddr or http url> is required')
const dataDir = resolve(args.values.data ?? resolve(repoRoot, '.data/validator'))
const appendCount = count('append', args.values.append) ?? 0
const untilMessages = count('until-messages', args.values['until-messages'])
const quiet = args.values.quiet === true
const inviteLink = args.values.invite
const txIntervalMs = count('tx-interval-ms', args.values['tx-interval-ms'])
const say = (line: string) => {
  if (!quiet) process.stdout.write(`${line}\n`)
}

let validator: HeadlessValidator | undefined
let stopping = false
async function stop(code: number): Promise<never> {
  stopping = true
  try {
    await validator?.stop()
  } catch (e) {
    console.error(`validator: error while stopping: ${(e as Error).message}`)
    process.exit(1)
  }
  process.exit(code)
}
const onSignal = (signal: NodeJS.Signals) => {
  if (stopping) process.exit(1)
  say(`validator: ${signal}, stopping`)
  void stop(0)
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

const started = await startHeadlessValidator(
  { dataDir, relay: relayTarget, ...(txIntervalMs === undefined ? {} : { txIntervalMs }) },
  {
    // Signature checks on worker threads: replication and consensus verify on every core.
    ed25519: createVerifyPool(),
    hasher: createNodeHasher(),
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
    now: () => Date.now(),
    fetch: (...a) => fetch(...a),
    openFeedAdapter: openLevelAdapter,
  },
)
if (!started.ok) fail(describe(started.error))
validator = started.value
if (stopping) await stop(0)

process.stdout.write(
  [
    'BlockfinBFT headless validator',
    `  network   ${validator.network.name}  ${validator.network.id}`,
    `  identity  ${validator.id}`,
    `  peer      ${validator.peerId}`,
    `  relay     ${relayTarget}`,
    `  data      ${dataDir}`,
    '',
  ].join('\n'),
)

const total = () => {
  let n = 0
  for (const head of validator!.store.vectorClock().values()) n += head.sequence
  return n
}
const startedAt = Date.now()
let lastLine = ''
const report = () => {
  const state = validator!.relayState()
  const relay =
    state.kind === 'connected'
      ? `connected ${state.connection.remoteAddr.toString()}`
      : state.kind === 'waiting'
        ? `retrying in ${state.retryInMs} ms (${state.error})`
        : state.kind
  const line = `relay ${relay}; ${validator!.store.vectorClock().size} feeds, ${total()} messages`
  if (line !== lastLine) say(line)
  lastLine = line
}
setInterval(report, 1000).unref()

if (untilMessages !== undefined) {
  const check = () => {
    if (total() < untilMessages) return
    process.stdout.write(`reached ${total()} messages in ${Date.now() - startedAt} ms\n`)
    void stop(0)
  }
  validator.store.subscribe(check)
  check()
}

if (inviteLink) {
  say('joining with the invite link…')
  const joined = await validator.join(inviteLink)
  if (!joined.ok) fail(`cannot join: ${joined.error.code}: ${joined.error.reason}`)
  say(`admitted in block ${joined.value.height}; votes count from block ${joined.value.activeFrom}`)
}
let lastSealed = 0
validator.runtime.onEvent((e) => {
  if (e.type === 'sealed' && e.height > lastSealed && !e.replayed) {
    lastSealed = e.height
    say(`sealed block ${e.height}`)
  }
})

for (let i = 0; i < appendCount; i++) {
  const outcome = await validator.publish({ type: 'blockfin/test', text: `headless message ${i + 1}` })
  if (!outcome.ok) fail(`append failed: ${outcome.error.code}`)
}
if (appendCount > 0) say(`appended ${appendCount} messages`)
