/** What the rest of the system needs from Ed25519: batch verification under the pinned rule, and signing. */
export interface VerifyRequest {
  readonly publicKey: Uint8Array
  readonly message: Uint8Array
  readonly signature: Uint8Array
}

export interface Ed25519Backend {
  /** For logs and benchmarks: 'webcrypto', 'node-crypto', 'noble'. */
  readonly name: string
  /** One boolean per request, in order; never throws for bad keys or signatures. */
  verifyBatch(requests: readonly VerifyRequest[]): Promise<boolean[]>
  /** Signs with the 32-byte seed; the public key is derived from it. */
  sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array>
}
