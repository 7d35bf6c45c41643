/**
 * Micro-benchmark of what a trust anchor costs the client per GB, in-process: for 100 MB of
 * canonical segments, (a) the whole-blob sha256 the client runs without an anchor, against (b)
 * the anchored checks: a manifest node's signature verified per 250 segments (NDNts decoding and
 * WebCrypto, against the client's AnchorKey: node:crypto on the wire bytes, the key imported
 * once), and every segment's implicit digest compared with its entry, as latin1 text as the
 * client does (and as a Buffer, as it did before).
 * Prints CPU-s per GB, best of five rounds: `node test/dist/micro/anchor-checks.js`.
 */
import "@ndnreg/shared/polyfill";

import { createHash, randomBytes } from "node:crypto";

import { createVerifier } from "@ndn/keychain";
import { Segment } from "@ndn/naming-convention2";
import { Data, Name } from "@ndn/packet";
import { Decoder, Encoder } from "@ndn/tlv";
import { createLogger } from "@ndnreg/shared";
import {
  canonicalBlobName, canonicalSegmentFields, encodeSegmentData, implicitDigest, implicitDigestText, latin1Text, MANIFEST_FANOUT, manifestName,
  parseSha256Digest, SEGMENT_SIZE, SEGMENT_FRESHNESS_MS,
} from "@ndnreg/shared/ndn";
import { AnchorKey } from "@ndnreg/client/security/anchor-key";
import { openServerKey } from "@ndnreg/server/security/server-key";

const SEGMENTS = 12_500; // 100 MB
const prefix = new Name("/bench/micro");
const blob = randomBytes(SEGMENTS * SEGMENT_SIZE);
const digest = parseSha256Digest(`sha256:${createHash("sha256").update(blob).digest("hex")}`)!;
const segments: Uint8Array[] = [];
const blobName = canonicalBlobName(prefix, digest);
for (let s = 0; s < SEGMENTS; ++s) {
  const content = blob.subarray(s * SEGMENT_SIZE, (s + 1) * SEGMENT_SIZE);
  segments.push(new Uint8Array(encodeSegmentData({ ...canonicalSegmentFields(SEGMENTS - 1, content), nameValue: blobName.append(Segment, s).value })));
}
const key = await openServerKey(undefined, prefix, createLogger("micro", "silent"));
const nodes: Uint8Array[] = [];
for (let n = 0; n * MANIFEST_FANOUT < SEGMENTS; ++n) {
  const list = segments.slice(n * MANIFEST_FANOUT, (n + 1) * MANIFEST_FANOUT).map((s) => implicitDigest(s));
  const data = new Data(manifestName(prefix, digest).append(Segment, n), Buffer.concat(list), Data.FreshnessPeriod(SEGMENT_FRESHNESS_MS));
  await key.dataSigner.sign(data);
  nodes.push(Encoder.encode(data));
}
const verifier = await createVerifier(key.certificate);
const anchorKey = new AnchorKey(key.certificate);

async function cpu(f: () => Promise<void> | void): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < 5; ++round) {
    const t0 = process.cpuUsage();
    await f();
    const u = process.cpuUsage(t0);
    best = Math.min(best, (u.user + u.system) / 1e6 / (SEGMENTS * SEGMENT_SIZE / 1e9));
  }
  return best;
}

const whole = await cpu(() => {
  const h = createHash("sha256");
  for (let s = 0; s < SEGMENTS; ++s) {
    h.update(blob.subarray(s * SEGMENT_SIZE, (s + 1) * SEGMENT_SIZE));
  }
  h.digest();
});
let mismatches = 0;
const entries = segments.map((s) => latin1Text(implicitDigest(s))); // what ManifestReader keeps per node
const perSegment = await cpu(() => {
  for (let s = 0; s < SEGMENTS; ++s) {
    if (implicitDigestText(segments[s]!) !== entries[s]) {
      throw new Error(`segment ${s} does not match its entry`);
    }
  }
});
const perSegmentBuffer = await cpu(() => {
  for (let s = 0; s < SEGMENTS; ++s) {
    const node = nodes[Math.floor(s / MANIFEST_FANOUT)]!;
    if (!implicitDigest(segments[s]!).equals(node.subarray(node.length - 100, node.length - 68))) {
      ++mismatches; // compared as the client did; the position is arbitrary, the cost is not
    }
  }
});
const nodesNdnts = await cpu(async () => {
  for (const wire of nodes) {
    await verifier.verify(new Decoder(wire).decode(Data));
  }
});
const nodesNode = await cpu(() => {
  for (const wire of nodes) {
    const problem = anchorKey.problem(wire);
    if (problem !== undefined) {
      throw new Error(problem);
    }
  }
});
console.log("| CPU-s per GB (best of 5 rounds of 100 MB) | |\n|---|---|");
console.log(`| whole-blob sha256 (no anchor) | ${whole.toFixed(3)} |`);
console.log(`| implicit digest of every segment, compared as latin1 text | ${perSegment.toFixed(3)} |`);
console.log(`| implicit digest of every segment, a Buffer each (before) | ${perSegmentBuffer.toFixed(3)} |`);
console.log(`| manifest nodes: NDNts decode + verify (WebCrypto) | ${nodesNdnts.toFixed(3)} |`);
console.log(`| manifest nodes: wire bytes checked with node:crypto (AnchorKey, as the client does) | ${nodesNode.toFixed(3)} |`);
console.log(`| anchored checks (segments + nodes) - whole-blob hash | ${(perSegment + nodesNode - whole).toFixed(3)} |`);
console.error(`(${mismatches} comparisons)`);
