/**
 * The relay's invite link (GET /api/status `invite`, named by the relay as this page reaches it),
 * asked once per page load and shared by the invite and join panels.
 */
export type RelayInvite =
  | { readonly state: 'invite'; readonly link: string }
  | { readonly state: 'none' }
  | { readonly state: 'unavailable'; readonly reason: string }

let asked: Promise<RelayInvite> | undefined

export function relayInvite(fetcher: typeof fetch = (...a) => fetch(...a)): Promise<RelayInvite> {
  asked ??= fetcher('/api/status', { cache: 'no-store' }).then(
    async (response): Promise<RelayInvite> => {
      if (!response.ok) return { state: 'unavailable', reason: `HTTP ${response.status}` }
      const body = (await response.json()) as { invite?: unknown }
      return typeof body.invite === 'string' ? { state: 'invite', link: body.invite } : { state: 'none' }
    },
    (e: unknown): RelayInvite => ({ state: 'unavailable', reason: (e as Error).message }),
  )
  const current = asked
  // Ask again next time when the relay could not be reached.
  void current.then((r) => {
    if (r.state === 'unavailable' && asked === current) asked = undefined
  })
  return current
}

/** A QR code's dark modules as one SVG path (1 unit per module, `margin` units of quiet zone). */
export async function qrPath(text: string, margin = 4): Promise<{ size: number; path: string }> {
  const { default: qrcode } = await import('qrcode-generator')
  const qr = qrcode(0, 'M')
  qr.addData(text, 'Byte')
  qr.make()
  const count = qr.getModuleCount()
  let path = ''
  for (let row = 0; row < count; row++)
    for (let col = 0; col < count; col++)
      if (qr.isDark(row, col)) path += `M${col + margin} ${row + margin}h1v1h-1z`
  return { size: count + 2 * margin, path }
}
