/**
 * What one consensus message costs a tab (issue 5): a relay and three headless validators in this
 * process, and one Chromium tab of the real app (built dist, on-disk IndexedDB) validating beside
 * them while the headless validators send a few transfers a second. Reported: the CPU the tab's
 * processes spent per message the tab stored, by process kind (from /proc).
 *
 * On two cores the tabs bench's latency follows from this: every consensus message reaches all
 * four tabs at once, and their work on it queues for the same two cores. Unlike a latency, this
 * figure hardly depends on what else the machine does, so it says whether a change to the tab's
 * message path made it cheaper.
 */
import '../src/node/polyfills'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { launchTabBrowser } from './chromium'
import { type CpuUse, cpuBetween, sampleCpu } from './cpu'
import { startInProcessNetwork } from './in-process-network'

export interface TabCostResult {
  readonly transfersPerSec: number
  readonly blocksPerSec: number
  /** Messages the tab stored from replication per second. */
  readonly messagesPerSec: number
  /** ms of CPU per stored message: main thread, the renderer's other threads, browser process, network service. */
  readonly perMessageMs: {
    readonly tabMain: number
    readonly tabOther: number
    readonly browser: number
    readonly network: number
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Undefined where /proc is not there (the figure is read from it). */
export async function runTabCostBench(
  options: { seconds?: number; transfersPerSec?: number } = {},
): Promise<TabCostResult | undefined> {
  if (!sampleCpu()) return undefined
  const seconds = options.seconds ?? 10
  const transfersPerSec = options.transfersPerSec ?? 4
  const base = await mkdtemp(join(tmpdir(), 'blockfin-bench-tab-cost-'))
  const network = await startInProcessNetwork({
    base,
    distDir: join(import.meta.dirname, '..', 'dist'),
    validators: 3,
  })
  const { relay, invite, validators } = network
  const tab = await launchTabBrowser().catch(async (e: unknown) => {
    await network.close()
    throw e
  })
  try {
    const page = await tab.context.newPage()
    // tsx (esbuild keepNames) wraps named functions in the evaluated callbacks with __name.
    await page.addInitScript('globalThis.__name = (f) => f')
    await page.goto(invite)
    await page.evaluate(() => window.blockfin!.ready)
    for (let i = 0; i < 600 && validators.some((v) => v.wallet.balance() === 0); i++) await sleep(50)
    let blocks = 0
    relay.consensus.validator!.onEvent((e) => {
      if (e.type === 'executed') blocks++
    })
    const load = async (forSeconds: number) => {
      const end = performance.now() + forSeconds * 1000
      for (let k = 0; performance.now() < end; k++) {
        const v = validators[k % validators.length]!
        const sent = await v.wallet.send(validators[(k + 1) % validators.length]!.id, 1)
        if (!sent.ok) throw new Error(`send: ${JSON.stringify(sent.error)}`)
        await sleep(1000 / transfersPerSec)
      }
    }
    // The tab joins (its votes count once admitted) and warms up with the same load.
    const active = () => page.evaluate(() => window.blockfin!.status().membership.state === 'active')
    for (let i = 0; i < 10 && !(await active()); i++) await load(2)
    if (!(await active())) throw new Error('the tab was not admitted')
    await load(3)
    const stored = () => page.evaluate(() => window.blockfin!.replication()?.messagesStored ?? 0)
    const [before, stored0, blocks0, t0] = [sampleCpu()!, await stored(), blocks, performance.now()]
    await load(seconds)
    const [after, stored1, elapsed] = [sampleCpu()!, await stored(), (performance.now() - t0) / 1000]
    const use: CpuUse = cpuBetween(before, after, elapsed)
    const messages = stored1 - stored0
    const per = (cores: number | undefined) => ((cores ?? 0) * elapsed * 1000) / Math.max(1, messages)
    return {
      transfersPerSec,
      blocksPerSec: (blocks - blocks0) / elapsed,
      messagesPerSec: messages / elapsed,
      perMessageMs: {
        tabMain: per(use.byKind['tab main threads']),
        tabOther: per(use.byKind['tab other threads']),
        browser: per(use.byKind['browser process']),
        network: per(use.byKind['network service']),
      },
    }
  } finally {
    await tab.close()
    await network.close()
    await rm(base, { recursive: true, force: true })
  }
}

export function printTabCost(result: TabCostResult | undefined, print: (line: string) => void): void {
  print('\n## What a consensus message costs a tab (issue 5)')
  if (!result) {
    print('- not measured: it is read from /proc (Linux)')
    return
  }
  const ms = (n: number) => n.toFixed(2)
  const { tabMain, tabOther, browser, network } = result.perMessageMs
  print(
    `relay + 3 headless validators in one process, 1 Chromium tab validating; ${result.transfersPerSec} transfers/s from the headless validators, ${result.blocksPerSec.toFixed(1)} blocks/s`,
  )
  print(
    '| messages stored by the tab /s | ms CPU per message: tab main thread | tab other threads | browser process | network service | all |',
  )
  print('| --- | --- | --- | --- | --- | --- |')
  print(
    `| ${result.messagesPerSec.toFixed(0)} | ${ms(tabMain)} | ${ms(tabOther)} | ${ms(browser)} | ${ms(network)} | ${ms(tabMain + tabOther + browser + network)} |`,
  )
}
