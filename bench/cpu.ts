/**
 * CPU time of this machine's processes by kind, read from /proc (Linux): what a live setup spends
 * per second in the relay, the tabs' renderers (main threads apart), the browser process and its
 * network service. On two cores several nodes share, latency follows from how close this comes to
 * the core count, so the live tabs bench prints it beside its latencies. Wall-clock profiles of a
 * tab cannot say it: they charge a descheduled thread's wait to whatever it was running.
 */
import { readdirSync, readFileSync } from 'node:fs'

export type ProcessKind =
  | 'relay'
  | 'tab main threads'
  | 'tab other threads'
  | 'browser process'
  | 'network service'
  | 'other chromium'
  | 'other node'

/** Clock ticks of CPU (user + system) per process kind, at one moment. */
export type CpuSnapshot = ReadonlyMap<ProcessKind, number>

/** Cores used per kind between two snapshots (1 = one core busy all the time). */
export interface CpuUse {
  readonly total: number
  readonly byKind: Readonly<Partial<Record<ProcessKind, number>>>
}

/** Linux's USER_HZ: /proc's tick unit on every architecture Node runs on. */
const TICKS_PER_SECOND = 100

/** Which of the processes that matter this is, or undefined for the rest of the machine. */
function kindOf(args: readonly string[], relayEntry: string): 'relay' | 'chromium' | 'node' | undefined {
  const program = args[0] ?? ''
  if (program.includes('chromium') || program.includes('chrome')) return 'chromium'
  if (args.some((a) => a.includes(relayEntry))) return 'relay'
  if (program.endsWith('node')) return 'node'
  return undefined
}

function chromiumKind(args: readonly string[]): 'renderer' | 'browser' | 'network' | 'other' {
  const type = args.find((a) => a.startsWith('--type='))?.slice('--type='.length)
  if (type === undefined) return 'browser'
  if (type === 'renderer' && !args.includes('--top-chrome-webui')) return 'renderer'
  if (args.some((a) => a.includes('NetworkService'))) return 'network'
  return 'other'
}

/** Ticks of every thread of the processes that matter; undefined where /proc is not there. */
export function sampleCpu(relayEntry = 'relay/src/main.ts'): CpuSnapshot | undefined {
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return undefined
  }
  const ticks = new Map<ProcessKind, number>()
  const add = (kind: ProcessKind, n: number) => ticks.set(kind, (ticks.get(kind) ?? 0) + n)
  for (const pid of pids) {
    let args: string[]
    let threads: string[]
    try {
      // Chromium's zygote children rewrite their command line into one space-separated string.
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/)
      threads = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue // the process ended meanwhile
    }
    const kind = kindOf(args, relayEntry)
    if (!kind) continue
    const chromium = kind === 'chromium' ? chromiumKind(args) : undefined
    for (const tid of threads) {
      let stat: string
      try {
        stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      } catch {
        continue
      }
      // Fields after the parenthesised name: state is field 3, utime 14 and stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const n = Number(fields[11]) + Number(fields[12])
      if (kind === 'relay') add('relay', n)
      else if (kind === 'node') add('other node', n)
      else if (chromium === 'renderer') add(tid === pid ? 'tab main threads' : 'tab other threads', n)
      else if (chromium === 'browser') add('browser process', n)
      else if (chromium === 'network') add('network service', n)
      else add('other chromium', n)
    }
  }
  return ticks
}

/** Cores used between two snapshots taken `seconds` apart (processes that ended meanwhile are not counted). */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot, seconds: number): CpuUse {
  const byKind: Partial<Record<ProcessKind, number>> = {}
  let total = 0
  for (const [kind, ticks] of after) {
    const cores = Math.max(0, ticks - (before.get(kind) ?? 0)) / TICKS_PER_SECOND / seconds
    byKind[kind] = cores
    total += cores
  }
  return { total, byKind }
}

/** "1.93 cores: tab main threads 0.72, relay 0.29, ..." (kinds under 0.02 cores left out). */
export function formatCpuUse(use: CpuUse): string {
  const parts = Object.entries(use.byKind)
    .filter(([, cores]) => cores >= 0.02)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, cores]) => `${kind} ${cores.toFixed(2)}`)
  return `${use.total.toFixed(2)} cores (${parts.join(', ')})`
}
