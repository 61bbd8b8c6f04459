/**
 * `npm run invite -- [--data <dir>] [--relay <url>] <command>`: the relay's invites.
 *
 * Commands:
 *   create [--cap N] [--expires 24h | --expires-at <ISO date>] [--label text]
 *                           a new invite (defaults: cap 64, expires in 7d); prints its link
 *   list                    every invite: id, state, uses, expiry, label, link
 *   revoke <id>             refuses the invite to anyone from now on
 *
 * Options:
 *   --data <dir>            the relay's data directory (default $BLOCKFIN_DATA_DIR or <repo>/.data/relay)
 *   --relay <url>           talk to a running relay's admin endpoints (/api/invites) with the token
 *                           from <dir>/admin-token (or $BLOCKFIN_ADMIN_TOKEN) instead of editing
 *                           <dir>/invites.json directly
 *   --origin <url>          the relay's public URL, for links printed without --relay
 *                           (default http://localhost:$PORT, PORT default 8080)
 *   --json                  print JSON instead of lines
 *
 * Without --relay the file is edited in place (re-read and written atomically per operation); the
 * relay re-reads it on every join, so this is safe while it runs, short of two writes at once.
 */
import '../../../src/node/polyfills'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { isMessageId, type MessageId } from '../../../src/core/identity/ids'
import { describeInviteLinkError, formatInviteLink, relayOrigin } from '../../../src/core/invite/link'
import {
  ADMIN_TOKEN_FILE,
  type CreateInviteOptions,
  DEFAULT_INVITE,
  describeInviteBookError,
  type InviteView,
  openInviteBook,
  parseDuration,
} from '../invites'
import type { CreateInviteBody, InviteResponse } from '../join-api'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

function fail(message: string): never {
  console.error(`invite: ${message}`)
  process.exit(1)
}

let args: ReturnType<typeof parse>
function parse() {
  return parseArgs({
    options: {
      data: { type: 'string' },
      relay: { type: 'string' },
      origin: { type: 'string' },
      cap: { type: 'string' },
      expires: { type: 'string' },
      'expires-at': { type: 'string' },
      label: { type: 'string' },
      json: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  })
}
try {
  args = parse()
} catch (e) {
  fail((e as Error).message)
}
const { values, positionals } = args
const dataDir = resolve(values.data ?? (process.env.BLOCKFIN_DATA_DIR || resolve(repoRoot, '.data/relay')))
const [command, ...rest] = positionals
if (command !== 'create' && command !== 'list' && command !== 'revoke')
  fail(
    'usage: npm run invite -- [--data <dir>] [--relay <url>] create [--cap N] [--expires 24h] [--label t] | list | revoke <id>',
  )
if (command === 'revoke' ? rest.length !== 1 : rest.length !== 0)
  fail(`unexpected arguments: ${rest.join(' ')}`)
if (command !== 'create' && (values.cap || values.expires || values['expires-at'] || values.label))
  fail('--cap, --expires, --expires-at and --label go with create')

/** The create body, checked here for the messages; the book checks it again. */
function createBody(): CreateInviteBody {
  const body: CreateInviteBody = {}
  if (values.cap !== undefined) {
    const cap = Number(values.cap)
    if (!Number.isSafeInteger(cap) || cap < 1) fail(`--cap must be a positive integer, not "${values.cap}"`)
    body.cap = cap
  }
  if (values.expires !== undefined && values['expires-at'] !== undefined)
    fail('give --expires or --expires-at')
  if (values.expires !== undefined) {
    if (parseDuration(values.expires) === undefined)
      fail(`--expires takes a duration such as 90s, 30m, 24h or 7d, not "${values.expires}"`)
    body.expires = values.expires
  }
  if (values['expires-at'] !== undefined) {
    if (Number.isNaN(Date.parse(values['expires-at']))) fail('--expires-at takes an ISO 8601 date')
    body.expiresAt = values['expires-at']
  }
  if (values.label !== undefined) body.label = values.label
  return body
}

/** The command's answer on stdout (its output, not a log). */
const say = (line: string) => process.stdout.write(`${line}\n`)

function print(invites: readonly InviteResponse[]): void {
  if (values.json) {
    say(JSON.stringify(invites.length === 1 && command !== 'list' ? invites[0] : invites, null, 2))
    return
  }
  if (invites.length === 0) say('no invites')
  for (const i of invites) {
    say(
      `${i.id}  ${i.state.padEnd(9)}  ${`${i.used}/${i.cap}`.padStart(7)}  expires ${i.expiresAt}${i.label ? `  ${i.label}` : ''}${i.default ? '  (default)' : ''}`,
    )
    if (i.link) say(`  ${i.link}`)
  }
}

async function viaHttp(relayUrl: string): Promise<void> {
  const origin = relayOrigin(relayUrl)
  if (!origin.ok) fail(`--relay: ${describeInviteLinkError(origin.error)}`)
  let token = process.env.BLOCKFIN_ADMIN_TOKEN
  if (!token) {
    const path = join(dataDir, ADMIN_TOKEN_FILE)
    try {
      token = (await readFile(path, 'utf8')).trim()
    } catch (e) {
      fail(
        `cannot read the admin token ${path}: ${(e as Error).message} (set BLOCKFIN_ADMIN_TOKEN or --data)`,
      )
    }
  }
  const call = async (method: string, path: string, body?: unknown) => {
    let response: Response
    try {
      response = await fetch(`${origin.value}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(10_000),
      })
    } catch (e) {
      fail(`cannot reach ${origin.value}: ${(e as Error).message}`)
    }
    const json = (await response.json().catch(() => undefined)) as
      | { error?: { code: string; message: string }; invite?: InviteResponse; invites?: InviteResponse[] }
      | undefined
    if (!response.ok || !json)
      fail(
        json?.error
          ? `${json.error.code}: ${json.error.message}`
          : `HTTP ${response.status} from ${origin.value}`,
      )
    return json
  }
  if (command === 'list') return print((await call('GET', '/api/invites')).invites ?? [])
  if (command === 'create') return print([(await call('POST', '/api/invites', createBody())).invite!])
  return print([(await call('POST', `/api/invites/${encodeURIComponent(rest[0]!)}/revoke`)).invite!])
}

async function networkId(): Promise<MessageId | undefined> {
  try {
    const json = JSON.parse(await readFile(join(dataDir, 'network.json'), 'utf8')) as { id?: unknown }
    return isMessageId(json.id) ? json.id : undefined
  } catch {
    return undefined
  }
}

async function inFile(): Promise<void> {
  const opened = await openInviteBook(
    { dataDir },
    { now: () => new Date(), randomBytes: (n) => new Uint8Array(randomBytes(n)) },
  )
  if (!opened.ok) fail(describeInviteBookError(opened.error))
  const book = opened.value
  const network = await networkId()
  if (!network)
    console.error(`invite: no network in ${dataDir} yet (start the relay once): links are left out`)
  const originText = values.origin ?? `http://localhost:${process.env.PORT || 8080}`
  const origin = relayOrigin(originText)
  if (!origin.ok) fail(`--origin: ${originText} is not an http(s) origin`)
  const withLink = (i: InviteView): InviteResponse =>
    network ? { ...i, link: formatInviteLink({ relay: origin.value, invite: i.id, network }) } : i
  const done = <T>(
    r: { ok: true; value: T } | { ok: false; error: Parameters<typeof describeInviteBookError>[0] },
  ): T => {
    if (!r.ok) fail(describeInviteBookError(r.error))
    return r.value
  }
  if (command === 'list') return print(done(await book.list()).map(withLink))
  if (command === 'revoke') return print([withLink(done(await book.revoke(rest[0]!)))])
  const body = createBody()
  const options: CreateInviteOptions = {
    cap: body.cap ?? DEFAULT_INVITE.cap,
    ...(body.expiresAt !== undefined
      ? { expiresAt: new Date(body.expiresAt) }
      : { ttlMs: body.expires !== undefined ? parseDuration(body.expires)! : DEFAULT_INVITE.ttlMs }),
    ...(body.label !== undefined ? { label: body.label } : {}),
  }
  return print([withLink(done(await book.create(options)))])
}

await (values.relay ? viaHttp(values.relay) : inFile())
