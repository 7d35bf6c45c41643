import type { Logger } from "@ndnreg/shared";
import { TAG_RECORD_FRESHNESS_MS, type TagId, tagKey } from "@ndnreg/shared/ndn";

import type { NdnGate } from "../ndn/gate.js";
import type { TagStore } from "../store/tag-store.js";
import type { TagRecordLookup } from "./tag-lookup.js";

/** How long fetching a tag record over NDN may take. */
const KEEP_MS = 10_000;

/**
 * Keeps in the edge store the server-signed record of each tag pulled through the client, so that
 * the site can resolve the tag while the upstream is unreachable (outage mode). The caller's
 * answer came over HTTP and is never what is kept: the record is fetched over NDN in the
 * background (the server answers only for what it publishes), checked against the trust anchor,
 * and kept if it is newer than the one held. Best effort: nothing waits for it.
 */
export class TagKeeper {
  private readonly running = new Set<string>();

  constructor(private readonly lookup: TagRecordLookup, private readonly store: TagStore, private readonly gate: NdnGate, private readonly log: Logger) {}

  keep(id: TagId): void {
    const key = tagKey(id);
    // A record made within its FreshnessPeriod is as new as the server would make (a HEAD then a GET by tag ask once).
    if (this.gate.skipping || this.running.has(key) || (this.store.madeAt(id) ?? -Infinity) > Date.now() - TAG_RECORD_FRESHNESS_MS) {
      return;
    }
    this.running.add(key);
    void (async () => {
      const got = await this.lookup.fetch(id, AbortSignal.timeout(KEEP_MS));
      if ("refused" in got) {
        throw new Error(got.refused);
      }
      if (await this.store.put(id, got.data)) {
        this.log.info({ repository: id.repository, tag: id.tag, digest: got.record.digest.text, madeAt: new Date(got.record.madeAt).toISOString() }, "store: tag record kept");
      }
    })().catch((err: unknown) => {
      this.log.info({ repository: id.repository, tag: id.tag, err: String(err) }, "store: tag record not kept");
    }).finally(() => this.running.delete(key));
  }
}
