import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import {
  type BlobLog, buildImage, CLIENT_MAIN, Container, containerToolsMissing, type CountingProxy, imageUser, pullImage, readShebang,
  SERVER_MAIN, Stack, verifyPulled, waitUntil,
} from "../bench/index.js";
import { assertLaunchedByShebang, blobSources, pushTestImage } from "./helpers.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** The README's names: `docker build -f server.Dockerfile -t ndn-registry-server .` and the client's. */
const IMAGES = { server: "ndn-registry-server", client: "ndn-registry-client" } as const;
/**
 * Where the images' HEALTHCHECKs ask: the server's default --metrics-listen and the client's registry
 * port. The containers share the host's network (the registry and ndnd run there, on loopback).
 */
const SERVER_HEALTH = { host: "127.0.0.1", port: 9464 };
const CLIENT_LISTEN = { host: "127.0.0.1", port: 5000 };
/** The image's entry file, which its ENTRYPOINT executes. */
const ENTRY = "/app/dist/main.js";

function assertPortFree({ host, port }: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", (err) => reject(new Error(`${host}:${port} is taken (${err.message}); the images test runs the containers there, on the host's network`)));
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}

/** The container's node runs as the image's `node` user, with its entry file's shebang settings. */
async function assertRunsAsShebangSays(container: Container, sourceMain: string): Promise<void> {
  const pid = await container.pid();
  const imageMain = await container.rootPath(ENTRY);
  assert.deepEqual(readShebang(imageMain), readShebang(sourceMain), "the image's entry file has another shebang than the build's");
  assertLaunchedByShebang(pid, imageMain, { file: ENTRY });
  const uids = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]?.split(/\s+/);
  assert.deepEqual(uids, ["1000", "1000", "1000", "1000"], `uids of ${container.name}`);
  const passwd = readFileSync(await container.rootPath("/etc/passwd"), "utf8");
  assert.match(passwd, /^node:x:1000:1000:/m, "uid 1000 is not `node` in the image");
}

describe("images: the Dockerfiles built with buildah, run with podman, a pull through them over NDN", () => {
  let stack: Stack;
  let refusing: CountingProxy;
  let server: Container | undefined;
  let client: Container | undefined;

  before(async () => {
    const missing = await containerToolsMissing();
    assert.equal(missing, undefined, missing);
    await assertPortFree(SERVER_HEALTH);
    await assertPortFree(CLIENT_LISTEN);
    stack = await Stack.start({ label: "images" });
    await stack.stopServer(); // the server image serves the prefix instead
    refusing = await stack.proxy(true); // the client's upstream: blobs can come only over NDN
  });
  after(async () => {
    await client?.stop();
    await server?.stop();
    await stack?.stop();
  });

  test("both Dockerfiles build unchanged, with `node` as their user", async (t) => {
    for (const [name, tag] of Object.entries(IMAGES)) {
      const started = performance.now();
      await buildImage(ROOT, `${name}.Dockerfile`, tag, path.join(stack.runDir, `build-${name}.log`));
      t.diagnostic(`${tag}: built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      assert.equal(await imageUser(tag), "node");
    }
  });

  test("the server image registers the prefix through the mounted forwarder socket, as `node`, through its entry file's shebang", async () => {
    server = Container.run(`ndnreg-images-${process.pid}-server`, IMAGES.server, {
      // The image's default --router is unix:///run/nfd/nfd.sock, as the README mounts it.
      mounts: { [path.dirname(stack.forwarder.socketPath)]: "/run/nfd" },
      env: { NDNREG_UPSTREAM: stack.registry.url, NDNREG_NAME: stack.prefix },
      logFile: path.join(stack.runDir, "server-container.log"),
    });
    await server.proc.waitForLine(/"uplink up"/, 30_000);
    await stack.waitForRoute();
    await assertRunsAsShebangSays(server, SERVER_MAIN);
  });

  test("the client image serves a pull whose blobs all come over NDN", async () => {
    client = Container.run(`ndnreg-images-${process.pid}-client`, IMAGES.client, {
      mounts: { [path.dirname(stack.forwarder.socketPath)]: "/run/nfd" },
      args: ["--upstream", refusing.url, "--name", stack.prefix, "--router", "unix:///run/nfd/nfd.sock",
        "--listen", `${CLIENT_LISTEN.host}:${CLIENT_LISTEN.port}`],
      logFile: path.join(stack.runDir, "client-container.log"),
    });
    await client.proc.waitForLine(/"client ready"/, 30_000);
    await assertRunsAsShebangSays(client, CLIENT_MAIN);

    const host = `${CLIENT_LISTEN.host}:${CLIENT_LISTEN.port}`;
    const image = await pushTestImage(stack, "images/app:v1", { format: "docker", layers: [300_000, 2_000_000] });
    const pulled = await pullImage(host, "images/app:v1", path.join(stack.runDir, "out"));
    await verifyPulled(image, pulled);
    const proc = client.proc;
    const handle = { proc, host, url: `http://${host}`, stop: () => proc.stop(), blobLogs: () => proc.grep(/"blob done"/).map((l) => JSON.parse(l) as BlobLog) };
    const sources = await blobSources(handle, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"], JSON.stringify([...sources]));
    assert.equal(refusing.counters.blobGets, refusing.counters.refusedBlobGets, "a blob GET reached the registry");
  });

  test("both HEALTHCHECKs pass, and the server's fails while its forwarder is down", async () => {
    for (const c of [server!, client!]) {
      const result = await c.healthcheck();
      assert.ok(result.healthy, `${c.name}: ${result.output}`);
    }
    await stack.forwarder.stop();
    try {
      await waitUntil("server unhealthy", async () => !(await server!.healthcheck()).healthy, 15_000, 500);
    } finally {
      await stack.forwarder.startProcess();
    }
    await waitUntil("server healthy again", async () => (await server!.healthcheck()).healthy, 30_000, 500);
  });
});
