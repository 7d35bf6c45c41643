import type { ServerResponse } from "node:http";

import type { FetchBatch } from "../ndn/blob-fetcher.js";
import type { NdnGate } from "../ndn/gate.js";
import type { StoreWrite } from "../store/store-write.js";
import type { BlobOutcome } from "./outcome.js";
import type { BlobPlan } from "./plan.js";
import type { VerifiedWriter } from "./verified-writer.js";

/**
 * Streams an NDN fetch's payloads through the verified writer (from the offset, and checked the
 * way, the fetch's first batch says). The response starts with the
 * first bytes, unless the plan holds everything back until the digest is checked; any segment
 * arriving tells the gate that NDN works. Fetch errors (NdnFetchError) reach the caller as thrown.
 * `store`: a tee that copies the NDN bytes (never HTTP ones) towards the edge store.
 */
export async function deliverOverNdn(
  batches: AsyncIterable<FetchBatch>, writer: VerifiedWriter, res: ServerResponse,
  plan: BlobPlan & { kind: "ndn" }, gate: NdnGate, outcome: BlobOutcome, store?: StoreWrite,
): Promise<void> {
  for await (const { offset, verified, payloads: batch } of batches) {
    if (outcome.ndnBytes === 0) {
      gate.reachable();
    }
    writer.begin(offset, verified);
    if (!plan.holdAll && !res.headersSent) {
      res.writeHead(plan.status, plan.headers);
    }
    store?.take(offset, batch);
    await writer.pushAll(batch);
    for (const p of batch) {
      outcome.ndnBytes += p.length;
    }
  }
}
