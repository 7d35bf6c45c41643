import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { Segment } from "@ndn/naming-convention2";
import { Component, Name, TT } from "@ndn/packet";
import { canonicalBlobName, LEGACY_SEGMENT_SIZE, legacyBlobName, makeBlobId, SEGMENT_SIZE } from "@ndnreg/shared/ndn";

import { type Forwarder, NdnConsumer, pushRawBlob, scrapeMetrics, Stack } from "../bench/index.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What an attacker on the NDN network (an NDNts consumer with a face of its own, no credentials)
 * can make the server do: bounded registry reads per byte published, bounded Interests pending
 * and reads in flight on every uplink type, bounded registry lookups of unknown digests.
 */
describe("producer bounds", () => {
  let stack: Stack;
  const prefix = new Name("/ndnreg/test");
  const blobBytes = 20_000_000;
  let digest: string;

  before(async () => {
    stack = await Stack.start({ label: "bounds" });
    digest = await pushRawBlob(stack.registry.url, "bounds/big", randomBytes(blobBytes));
  });
  after(async () => {
    consumers.forEach((c) => c.close()); // a failed test leaves its face open: it would keep this file's process alive
    await stack?.stop();
  });

  const consumers: NdnConsumer[] = [];
  const attackerFace = async () => {
    const c = await NdnConsumer.connect(stack.forwarder.socketPath, prefix);
    consumers.push(c);
    return c;
  };

  const segmentName = (repository: string, d: string, s: number) => legacyBlobName(prefix, makeBlobId(repository, d)!).append(Segment, s);
  /** A random segment of the big blob: under its canonical name, or its legacy name (7777-byte segments). */
  const randomSegment = (kind: "canonical" | "legacy" = "legacy") => {
    const size = kind === "canonical" ? SEGMENT_SIZE : LEGACY_SEGMENT_SIZE;
    const s = Math.floor(Math.random() * Math.ceil(blobBytes / size));
    return kind === "canonical" ? canonicalBlobName(prefix, makeBlobId("bounds/big", digest)!.digest).append(Segment, s) : segmentName("bounds/big", digest, s);
  };
  const outcome = async (name: string) => (await scrapeMetrics(`${stack.serverMetricsUrl}/metrics`)).get(`ndnreg_server_interests_total{outcome="${name}"}`) ?? 0;

  /** Until the registry has sent no blob bytes for `quietMs` (reads ahead would show up here). */
  async function readsSettled(quietMs = 1500): Promise<void> {
    let last = -1;
    while (last !== stack.registry.blobBytesServed) {
      last = stack.registry.blobBytesServed;
      await sleep(quietMs);
    }
  }

  for (const kind of ["canonical", "legacy"] as const) {
    test(`random-segment Interests for an uncached blob, ${kind} names: registry bytes at most 8x the bytes published`, async () => {
      await stack.startServer();
      const attacker = await attackerFace();
      const before = stack.registry.blobBytesServed;
      if (kind === "canonical") {
        await attacker.express(segmentName("bounds/big", digest, 0)); // teaches the server the digest, as anyone can
      }
      for (let sent = 0; sent < 120; sent += 8) {
        await Promise.all(Array.from({ length: 8 }, () => attacker.express(randomSegment(kind))));
      }
      await readsSettled();
      attacker.close();
      const read = stack.registry.blobBytesServed - before;
      const published = attacker.tally.dataBytes;
      assert.ok(attacker.tally.data >= 100, `only ${attacker.tally.data} of 120 answered`);
      // The last block of a blob may be shorter than its segments: one block per blob on top.
      assert.ok(read <= 8 * published + 8 * SEGMENT_SIZE, `registry sent ${read} bytes for ${published} published (${(read / published).toFixed(1)}x)`);
    });
  }

  /**
   * A burst of random Interests against tight bounds, on an uplink of the given kind: nothing
   * crashes, Interests past the bounds get no Data and are counted, a pull afterwards is served.
   */
  async function burstAgainstBounds(uplink: (fw: Forwarder) => string): Promise<void> {
    await stack.startServer({
      NDNREG_ROUTER: uplink(stack.forwarder), NDNREG_PRODUCER_MAX_PENDING: "24", NDNREG_UPSTREAM_MAX_READS: "2", NDNREG_RANGE_CACHE_BYTES: String(1 << 20),
    });
    const attacker = await attackerFace();
    const pending: number[] = [];
    const inFlight: number[] = [];
    const sampler = setInterval(() => void scrapeMetrics(`${stack.serverMetricsUrl}/metrics`).then((m) => {
      pending.push(m.get("ndnreg_server_interests_pending") ?? NaN);
      inFlight.push(m.get("ndnreg_server_registry_reads_in_flight") ?? NaN);
    }, () => undefined), 20);
    await Promise.all(Array.from({ length: 400 }, () => attacker.express(randomSegment(), 1500)));
    clearInterval(sampler);
    assert.ok(stack.server!.running, "server crashed");
    const dropped = await outcome("dropped_overload");
    assert.ok(dropped > 0, "no Interest was dropped for overload");
    assert.equal(attacker.tally.nacks.size, 0, "overload is not answered with a Nack");
    assert.ok(attacker.tally.unanswered >= dropped - 5, `${attacker.tally.unanswered} unanswered, ${dropped} dropped`);
    assert.ok(pending.length > 0 && Math.max(...pending) <= 24, `pending Interests: ${Math.max(...pending)}`);
    assert.ok(Math.max(...inFlight) <= 2, `registry reads in flight: ${Math.max(...inFlight)}`);
    // Asked afterwards, as a consumer would (retransmitting while the ranges of the burst are still in use).
    let data;
    for (let attempt = 0; attempt < 4 && !data; ++attempt) {
      data = await attacker.express(segmentName("bounds/big", digest, 7), 1000);
    }
    assert.equal(data?.content.length, LEGACY_SEGMENT_SIZE, "a segment asked for afterwards is served");
    attacker.close();
  }

  test("Interests past the bounds are dropped and counted, not crashing: Unix uplink (wire hot path)", async () => {
    await burstAgainstBounds((fw) => fw.uri);
  });

  test("the same bounds on a TCP uplink (wire hot path)", async () => {
    await burstAgainstBounds((fw) => fw.tcpUri);
  });

  test("the same bounds on a UDP uplink (NDNts produce())", async () => {
    await burstAgainstBounds((fw) => fw.udpUri);
  });

  test("unknown digests: registry lookups within the rates, the negative cache kept, other repositories served at once", async () => {
    await stack.startServer({ NDNREG_UPSTREAM_LOOKUP_RATE: "20", NDNREG_UPSTREAM_LOOKUP_REPOSITORY_RATE: "5" });
    const attacker = await attackerFace();
    const gen = (v: Uint8Array | string) => new Component(TT.GenericNameComponent, v);
    const digests = Array.from({ length: 300 }, () => randomBytes(32));
    const heads0 = stack.registry.blobHeads;
    const t0 = performance.now();
    const floodName = (d: Uint8Array) => prefix.append(gen("flood/a"), gen(d), Segment.create(0));
    const flood = Promise.all(digests.map((d) => attacker.express(floodName(d), 1500)));
    await sleep(200);
    const legit = await attacker.express(segmentName("bounds/big", digest, 3), 1000);
    const legitMs = performance.now() - t0 - 200;
    const answers = await flood;
    const seconds = (performance.now() - t0) / 1000;
    const heads = stack.registry.blobHeads - heads0;
    // Repository "flood/a": a burst of 5, then 5 per second; "bounds/big" has its own.
    assert.ok(heads <= 5 + 5 * seconds + 2, `${heads} registry HEADs in ${seconds.toFixed(1)} s`);
    assert.equal(legit?.content.length, LEGACY_SEGMENT_SIZE, "a known blob in another repository was not served during the flood");
    assert.ok(legitMs < 500, `another repository waited ${legitMs.toFixed(0)} ms`);
    const nacked = attacker.tally.nacks.get("") ?? 0; // legacy names' Nacks carry no reason
    assert.ok(nacked >= 5 && nacked <= heads, `${nacked} Nacks for ${heads} HEADs`);
    assert.ok(await outcome("dropped_rate_limited") > 0);

    // The digests that were looked up, asked again (once the routers' 1 s Nacks are stale): the
    // server answers them from its negative cache, with no HEAD.
    const looked = digests.filter((_, i) => answers[i]?.contentType === 3).slice(0, 5);
    await sleep(1100);
    const [heads1, nacks1] = [stack.registry.blobHeads, await outcome("nack_missing")];
    await Promise.all(looked.map((d) => attacker.express(floodName(d), 1000)));
    assert.equal(await outcome("nack_missing"), nacks1 + looked.length, `the server answered them (${nacks1} before)`);
    assert.equal(stack.registry.blobHeads, heads1, "negative cache: looked-up digests cost no more HEADs");
    attacker.close();
  });
});
