import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { after, describe, test } from "node:test";

import { Name } from "@ndn/packet";
import { canonicalBlobName, parseSha256Digest } from "@ndnreg/shared/ndn";

import { Forwarder, getBlob, routePrefixes, Stack, waitUntil } from "../bench/index.js";
import { blobSources, pushRawBlob } from "./helpers.js";

const BLOB_BYTES = 2_000_000;
const UPLINK_COST = 100;

/**
 * Routing across a site (docs/site.md): three forwarders in a line, each with ndnd's dv router.
 * A store on one end announces its blobs; the other end pulls them from it, and loses the route
 * when the store evicts.
 */
describe("site routing", () => {
  const stacks: Stack[] = [];
  const forwarders: Forwarder[] = [];
  after(async () => {
    await Promise.all(forwarders.map((f) => f.stop()));
    await Promise.all(stacks.map((s) => s.stop()));
  });

  test("dv carries a store's blob prefixes across three forwarders: the far end pulls from the store with the server stopped; eviction withdraws the route", async () => {
    const stack = await Stack.start({ label: "site-routing", csCapacity: 2048 });
    stacks.push(stack);
    await stack.startServer();
    const repo = "site/routing";
    const first = await pushRawBlob(stack.registry.url, repo, randomBytes(BLOB_BYTES));
    const second = await pushRawBlob(stack.registry.url, repo, randomBytes(BLOB_BYTES));
    const blobPrefix = (digest: string) => canonicalBlobName(new Name(stack.prefix), parseSha256Digest(digest)!);

    // a - b - c; a's way to the origin is a static route, as a site router's across its WAN would
    // be, costing more than the store's (it is child-inherit: best-route tries the store first).
    const [a, b, c] = await Promise.all(["site-a", "site-b", "site-c"].map((name) => Forwarder.start(stack.runDir, { name, routing: "dv", csCapacity: 2048 }))) as [Forwarder, Forwarder, Forwarder];
    forwarders.push(a, b, c);
    await a.addRoute(stack.prefix, stack.forwarder.tcpUri, UPLINK_COST);
    await Promise.all([a.addNeighbour(b.tcpUri), b.addNeighbour(a.tcpUri), b.addNeighbour(c.tcpUri), c.addNeighbour(b.tcpUri)]);

    // The store's budget holds one blob: storing the second evicts the first.
    const storeArgs = ["--store-dir", path.join(stack.runDir, "store"), "--store-bytes", String(Math.round(BLOB_BYTES * 1.5))];
    let store = await stack.startClient({ router: a.uri, args: storeArgs });
    await getBlob(store, repo, first);
    await store.proc.waitForLine(/"store: blob stored"/);
    const announced = async (fw: Forwarder, digest: string) => (await routePrefixes(fw)).some((r) => r.prefix.equals(blobPrefix(digest)));
    await waitUntil("the first blob's prefix at the far end", () => announced(c, first), 20_000, 200);
    const far = (await routePrefixes(c)).find((r) => r.prefix.equals(blobPrefix(first)))!;
    assert.equal(far.origin, "nlsr");
    assert.equal(far.cost, 12, "the store's cost (10) plus two hops");

    // The server gone and the caches on the way empty (a restarted with its router; the store's
    // client registers again): only the store holds the blob.
    await stack.stopServer();
    await stack.forwarder.restart();
    // The store's host restarted with its routers ("the next day"): dv learns routes only from
    // registrations made while it runs, and makes its neighbour faces only at start.
    await store.proc.stop();
    await Promise.all([a.restart(), b.restart(), c.restart()]);
    await Promise.all([a.linkNeighbours(), b.linkNeighbours(), c.linkNeighbours()]);
    store = await stack.startClient({ router: a.uri, args: storeArgs });
    await waitUntil("the first blob's prefix at the far end again", () => announced(c, first), 30_000, 200);
    const refusing = await stack.proxy(true);
    const puller = await stack.startClient({ router: c.uri, upstream: refusing.url });
    await getBlob(puller, repo, first);
    assert.deepEqual([...(await blobSources(puller, [first])).values()], ["ndn"]);
    assert.equal(refusing.counters.blobBytes, 0);

    // Evicted when the second blob is stored: withdrawn at the far end.
    await stack.startServer();
    await a.addRoute(stack.prefix, stack.forwarder.tcpUri, UPLINK_COST);
    await getBlob(store, repo, second);
    await store.proc.waitForLine(/"store: evicted"/);
    await waitUntil("the evicted blob's prefix gone at the far end", async () => !(await announced(c, first)), 20_000, 200);
    await waitUntil("the second blob's prefix at the far end", () => announced(c, second), 20_000, 200);
  });
});
