/**
 * The app's sections and their hash routes (`#/dashboard`, …). Only the fragment changes when the
 * person navigates, so the page's path and query string (e.g. an invite's `?join=…&network=…`)
 * stay as they are.
 */
export const SECTIONS = [
  { id: 'dashboard', label: 'Dashboard' },
  { id: 'wallet', label: 'Wallet' },
  { id: 'network', label: 'Network' },
  { id: 'identity', label: 'Identity' },
] as const

export type Section = (typeof SECTIONS)[number]['id']

export const DEFAULT_SECTION: Section = 'dashboard'

/** `#/network` -> 'network'; anything else (empty, unknown) -> the dashboard. */
export function sectionOfHash(hash: string): Section {
  const name = hash.replace(/^#\/?/, '').split(/[/?]/)[0]
  return SECTIONS.find((s) => s.id === name)?.id ?? DEFAULT_SECTION
}

export const hrefOf = (section: Section): string => `#/${section}`
