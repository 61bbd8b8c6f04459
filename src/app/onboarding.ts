/**
 * First-visit onboarding, without UI: whether this identity's backup was confirmed (remembered in
 * localStorage so the person is asked once), the browser's storage persistence and usage, and a
 * check of an identity file before anything is stored.
 */
import type { FeedId } from '../core/identity/ids'
import { type IdentityError, importKeysText } from '../core/identity/keys'

/** The person confirmed that they saved this identity's file outside the browser. */
export interface BackupRecord {
  readonly identity: FeedId
  /** Unix milliseconds. */
  readonly confirmedAt: number
}

export interface OnboardingStore {
  backupOf(identity: FeedId): BackupRecord | undefined
  confirmBackup(identity: FeedId, at: number): void
}

const BACKUP_KEY = 'blockfin:backups-confirmed'

/**
 * Backup confirmations in `storage` (localStorage), one per identity id, so importing another
 * identity does not carry over a confirmation made for the previous one. A storage that throws
 * (disabled, full) remembers nothing: onboarding then asks again on the next visit.
 */
export function localOnboardingStore(
  storage: Pick<Storage, 'getItem' | 'setItem'> | undefined,
): OnboardingStore {
  const read = (): Record<string, number> => {
    try {
      const value: unknown = JSON.parse(storage?.getItem(BACKUP_KEY) ?? '{}')
      return typeof value === 'object' && value !== null ? (value as Record<string, number>) : {}
    } catch {
      return {}
    }
  }
  return {
    backupOf(identity) {
      const at = read()[identity]
      return typeof at === 'number' ? { identity, confirmedAt: at } : undefined
    },
    confirmBackup(identity, at) {
      try {
        storage?.setItem(BACKUP_KEY, JSON.stringify({ ...read(), [identity]: at }))
      } catch {
        // Not remembered: the next visit asks again, which is safe.
      }
    },
  }
}

export type Persistence = 'granted' | 'not granted' | 'unsupported'

export interface StorageStatus {
  readonly persistence: Persistence
  /** Bytes this origin uses and may use, when the browser tells (navigator.storage.estimate()). */
  readonly usage?: number
  readonly quota?: number
}

/**
 * Asks the browser to keep this origin's data when space runs low (`persist()`, when `request`),
 * or only reads whether it already does (`persisted()`), and reads the usage estimate.
 */
export async function storageStatus(
  storage: Pick<StorageManager, 'persist' | 'persisted' | 'estimate'> | undefined,
  options: { readonly request: boolean },
): Promise<StorageStatus> {
  if (!storage) return { persistence: 'unsupported' }
  let persistence: Persistence = 'unsupported'
  try {
    if (options.request && typeof storage.persist === 'function')
      persistence = (await storage.persist()) ? 'granted' : 'not granted'
    else if (typeof storage.persisted === 'function')
      persistence = (await storage.persisted()) ? 'granted' : 'not granted'
  } catch {
    persistence = 'unsupported'
  }
  try {
    const { usage, quota } = await storage.estimate()
    return { persistence, usage, quota }
  } catch {
    return { persistence }
  }
}

/** 1234567 -> "1.2 MB" (decimal units, as browsers' storage settings show them). */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1
  return `${value.toFixed(digits)} ${units[unit]}`
}

/** What importing an identity file would do, decided before anything is stored. */
export type ImportCheck =
  | { readonly kind: 'invalid'; readonly error: IdentityError }
  | { readonly kind: 'same'; readonly identity: FeedId }
  | { readonly kind: 'replace'; readonly identity: FeedId; readonly current: FeedId }

export function checkIdentityFile(text: string, current: FeedId): ImportCheck {
  const imported = importKeysText(text)
  if (!imported.ok) return { kind: 'invalid', error: imported.error }
  if (imported.value.id === current) return { kind: 'same', identity: current }
  return { kind: 'replace', identity: imported.value.id, current }
}

/** Saves the identity file (seed 001 listing 1 JSON; it holds the secret key) through a download. */
export function downloadIdentityFile(file: { readonly fileName: string; readonly text: string }): void {
  const url = URL.createObjectURL(new Blob([file.text], { type: 'application/json' }))
  const link = document.createElement('a')
  link.href = url
  link.download = file.fileName
  link.click()
  setTimeout(() => URL.revokeObjectURL(url), 0)
}
