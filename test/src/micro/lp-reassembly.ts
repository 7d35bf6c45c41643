/**
 * Micro-benchmark of the client's UDP receive path per NDNLPv2 fragment: 100 MB of 8000-byte
 * segments as ndnd's stock 1420-byte MTU delivers them (six fragments each, in order), every
 * frame a fresh Buffer as a socket read gives it, through readLpFrame() and LpReassembler.add().
 * Prints ns per fragment and MB of garbage per GB reassembled, best of seven rounds:
 * `node test/dist/micro/lp-reassembly.js`.
 */
import "@ndnreg/shared/polyfill";

import { randomBytes } from "node:crypto";

import { Segment } from "@ndn/naming-convention2";
import { Name } from "@ndn/packet";
import { canonicalBlobName, canonicalSegmentFields, encodeSegmentData, LpFragmenter, LpReassembler, parseSha256Digest, readLpFrame, SEGMENT_SIZE } from "@ndnreg/shared/ndn";

const SEGMENTS = 12_500; // 100 MB
const STOCK_MTU = 1420;
const blobName = canonicalBlobName(new Name("/bench/micro"), parseSha256Digest(`sha256:${"ab".repeat(32)}`)!);
const fragmenter = new LpFragmenter(STOCK_MTU);
const token = new Uint8Array(randomBytes(6));
const frames: Uint8Array[] = [];
// A thousand distinct segments, fragmented once; each round sends them over and over (fresh sequence numbers).
const packets = Array.from({ length: 1000 }, (_, s) => encodeSegmentData({
  ...canonicalSegmentFields(SEGMENTS - 1, new Uint8Array(randomBytes(SEGMENT_SIZE))), nameValue: blobName.append(Segment, s).value, pitToken: token,
}));

function round(): { nsPerFragment: number; fragments: number; bytes: number } {
  frames.length = 0;
  for (let s = 0; s < SEGMENTS; ++s) {
    frames.push(...fragmenter.fragment(packets[s % packets.length]!));
  }
  const reassembler = new LpReassembler();
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  for (const frame of frames) {
    const lp = readLpFrame(Buffer.from(frame))!; // a socket read: a new buffer per datagram
    const whole = reassembler.add(lp);
    bytes += whole?.packet.length ?? 0;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (bytes < SEGMENTS * SEGMENT_SIZE || reassembler.dropped > 0) {
    throw new Error(`reassembled ${bytes} bytes, dropped ${reassembler.dropped}`);
  }
  return { nsPerFragment: ns / frames.length, fragments: frames.length, bytes };
}

const results = Array.from({ length: 7 }, round).sort((a, b) => a.nsPerFragment - b.nsPerFragment);
const best = results[0]!;
console.log(`${best.fragments} fragments (${(best.fragments / SEGMENTS).toFixed(1)} per segment), ${(best.bytes / 1e6).toFixed(0)} MB: `
  + `best ${best.nsPerFragment.toFixed(0)} ns per fragment, median ${results[3]!.nsPerFragment.toFixed(0)} (frame copy included)`);
