/**
 * Micro-benchmark of the server's per-Interest cache lookups: BlobCatalog.peek() (the blob's
 * size) and RangeCache.peek() (its bytes, ranges already in memory, and the evidence each segment
 * served adds to its blob's run), for every 8000-byte segment of a few blobs in turn, as
 * Interests arrive. Prints ns per Interest, best and median of seven rounds:
 * `node test/dist/micro/producer-peek.js`.
 */
import "@ndnreg/shared/polyfill";

import { makeBlobId, SEGMENT_SIZE } from "@ndnreg/shared/ndn";
import { RangeCache } from "@ndnreg/server/producer/range-cache";
import { BlobCatalog } from "@ndnreg/server/registry/blob-catalog";
import { LookupLimiter } from "@ndnreg/server/registry/lookup-limiter";
import type { RegistryClient } from "@ndnreg/server/registry/registry-client";

const CHUNK = 512 * SEGMENT_SIZE;
const BLOB = 16 * CHUNK;
const blobs = [1, 2, 3].map((n) => makeBlobId("bench/peek", `sha256:${n.toString(16).padStart(64, "0")}`)!);
const cache = new RangeCache(async (_id, begin, end, into, onProgress) => {
  await new Promise((r) => setImmediate(r)); // as a registry read, never within the call
  into.fill(1);
  onProgress(end - begin);
}, { segmentSize: SEGMENT_SIZE, blockBytes: 6 * SEGMENT_SIZE, maxRead: CHUNK, cacheBytes: 256 * 1024 * 1024, maxLoads: 16 });

// Warm: the first four chunks of each blob read in order, as a pull reads them (the ranges grow
// to 4 MB; a pool large enough that none of them is given up for the next blob's).
const chunksPerBlob = 4;
for (const id of blobs) {
  for (let s = 0; s < chunksPerBlob * CHUNK / SEGMENT_SIZE; ++s) {
    if (!cache.peek(id, BLOB, s * SEGMENT_SIZE, (s + 1) * SEGMENT_SIZE)) {
      await cache.read(id, BLOB, s * SEGMENT_SIZE, (s + 1) * SEGMENT_SIZE);
    }
  }
}
const registry = { stat: () => Promise.resolve({ found: true, size: BLOB }) } as unknown as RegistryClient;
const catalog = new BlobCatalog(registry, new LookupLimiter({ rate: 100, repositoryRate: 100 }));
for (const id of blobs) {
  await catalog.stat(id);
}
await new Promise((r) => setImmediate(r));

const segments = chunksPerBlob * CHUNK / SEGMENT_SIZE;
function measure(what: string, peek: (id: (typeof blobs)[number], begin: number) => number): void {
  let misses = 0;
  const results: number[] = [];
  for (let round = 0; round < 7; ++round) {
    const t0 = process.hrtime.bigint();
    let n = 0;
    for (let rep = 0; rep < 20; ++rep) {
      for (let s = 0; s < segments; ++s) {
        for (const id of blobs) {
          misses += peek(id, s * SEGMENT_SIZE) < 0 ? 1 : 0;
          ++n;
        }
      }
    }
    results.push(Number(process.hrtime.bigint() - t0) / n);
  }
  results.sort((a, b) => a - b);
  console.log(`${what}: best ${results[0]!.toFixed(1)} ns, median ${results[3]!.toFixed(1)} ns per Interest${misses > 0 ? ` (${misses} MISSES)` : ""}`);
}
measure("BlobCatalog.peek", (id) => (catalog.peek(id)?.found ? 1 : -1));
measure("RangeCache.peek ", (id, begin) => cache.peek(id, BLOB, begin, begin + SEGMENT_SIZE)?.length ?? -1);
cache.close();
