/**
 * When the app may reload for a new version. A validator must not reload in the middle of a
 * consensus step, so applying an update waits for `safePoint()`. Until the validator runtime
 * provides its "between votes" signal (`setSafePoint`), every moment is safe.
 */
let provider: () => Promise<void> = () => Promise.resolve()

/** Installs the runtime's signal: a promise that resolves at the next moment a reload is harmless. */
export function setSafePoint(next: () => Promise<void>): void {
  provider = next
}

export function safePoint(): Promise<void> {
  return provider()
}
