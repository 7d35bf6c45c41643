import type { BlobId, Sha256Digest } from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

/**
 * Which repository a digest may be published from: learned from a HEAD that succeeded with the
 * identity the server publishes with (anonymous, or credentials for an allow-listed repository).
 * Canonical names carry no repository, so the server answers them only for digests it has learned
 * here, and never leaks a blob it could not publish under some repository name. Bounded; a
 * restart forgets it until the next metadata or legacy Interest for the digest.
 */
export class DigestIndex {
  /** Reads peek: a digest's place in line is set when it is learned. */
  private readonly entries: LRUCache<string, BlobId>;

  constructor(maxEntries = 50_000) {
    this.entries = new LRUCache({ max: maxEntries });
  }

  /** `id` was found in the registry with the publishing identity. */
  learn(id: BlobId): void {
    if (this.entries.peek(id.digest.hex)?.repository !== id.repository) {
      this.entries.set(id.digest.hex, id);
    }
  }

  /** A repository the digest may be read from, if one was learned. */
  lookup(digest: Sha256Digest): BlobId | undefined {
    return this.entries.peek(digest.hex);
  }

  /** The blob did not match its digest: nothing is published under it until learned again. */
  forget(digest: Sha256Digest): void {
    this.entries.delete(digest.hex);
  }

  get size(): number {
    return this.entries.size;
  }
}
