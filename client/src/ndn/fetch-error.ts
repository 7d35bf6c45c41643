/** Why an NDN fetch stopped early; the caller turns every one of these into an HTTP fallback. */
export type NdnFailure = "nack" | "first-byte-timeout" | "idle-timeout" | "bad-segment" | "bad-metadata" | "bad-manifest" | "size-mismatch" | "fetch-error";

export class NdnFetchError extends Error {
  constructor(readonly reason: NdnFailure, message: string) {
    super(message);
  }
}
