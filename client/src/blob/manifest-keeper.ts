import { createHash } from "node:crypto";

import type { Logger } from "@ndnreg/shared";
import { type BlobId, MAX_MANIFEST_BYTES } from "@ndnreg/shared/ndn";

import type { NdnGate } from "../ndn/gate.js";
import type { SharedFetches } from "../ndn/shared-fetches.js";
import type { BlobStore } from "../store/blob-store.js";

/** How long fetching a manifest over NDN and storing it may take. */
const KEEP_MS = 30_000;

/**
 * Puts the manifests pulled through the client into the edge store, so that a pull by digest
 * still works while the upstream is unreachable (outage mode). The caller's copy came over HTTP
 * with its credentials and is never stored: the manifest is fetched again, in the background,
 * over NDN under the server's canonical names (which the server answers only for what it
 * publishes), hashed against its digest, and stored like a blob with the signed packets.
 */
export class ManifestKeeper {
  private readonly running = new Set<string>();

  constructor(private readonly fetches: SharedFetches, private readonly store: BlobStore, private readonly gate: NdnGate, private readonly log: Logger) {}

  /** `size`: the upstream's Content-Length of the manifest just relayed. */
  keep(id: BlobId, size: number): void {
    const hex = id.digest.hex;
    // While NDN gets no answer (see NdnGate) a fetch would only wait out its deadline.
    if (!Number.isSafeInteger(size) || size <= 0 || size > MAX_MANIFEST_BYTES || this.gate.skipping || this.running.has(hex) || this.store.has(hex)) {
      return;
    }
    const tee = this.store.writer(id, size);
    if (!tee) {
      return;
    }
    this.running.add(hex);
    const signal = AbortSignal.timeout(KEEP_MS);
    const noRepair = () => Promise.reject(new Error("a kept manifest takes NDN bytes only"));
    void (async () => {
      const fetch = this.fetches.open(id, size, { start: 0, end: size - 1 }, noRepair, signal);
      const hash = createHash("sha256");
      for await (const { offset, payloads } of fetch.payloads) {
        tee.take(offset, payloads);
        for (const p of payloads) {
          hash.update(p);
        }
      }
      if (hash.digest("hex") !== hex || fetch.stats.names !== "canonical" || fetch.stats.repaired > 0) {
        throw new Error("not the digest's bytes under canonical names");
      }
      await tee.commit(signal);
    })().catch((err: unknown) => {
      this.log.info({ repository: id.repository, digest: id.digest.text, err: String(err) }, "store: manifest not kept");
    }).finally(() => {
      tee.abort(); // no-op once committing
      this.running.delete(hex);
    });
  }
}
