import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";

import { freePort, ManagedProcess, PRODUCTION_NODE_FLAGS, SERVER_NODE_ENV, pullImage, Stack, verifyPulled, waitUntil } from "../bench/index.js";
import { blobSources, pushTestImage } from "./helpers.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CLIENT_MAIN = path.join(ROOT, "client/dist/main.js");

describe("operations: command line, pm2, keys, production bundles", () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ label: "ops" });
  });
  after(async () => {
    await stack?.stop();
  });

  test("--help lists every flag in the README's table; a bad flag is a clear error", async () => {
    const { stdout } = await run(process.execPath, [CLIENT_MAIN, "--help"]);
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const documented = [...readme.matchAll(/^\| `(--[a-z-]+)` \| `(NDNREG_[A-Z_]+)` \|/gm)];
    assert.ok(documented.length >= 8, "the README's flag table was not found");
    for (const [, flag, env] of documented) {
      assert.ok(stdout.includes(flag!), `${flag} missing from --help`);
      assert.equal(env, `NDNREG_${flag!.slice(2).toUpperCase().replaceAll("-", "_")}`);
    }
    for (const flag of stdout.matchAll(/^\s+(--[a-z-]+)/gm)) {
      if (!["--help", "--version"].includes(flag[1]!)) {
        assert.ok(readme.includes(`\`${flag[1]}\``), `${flag[1]} is not documented in the README`);
      }
    }
    await assert.rejects(run(process.execPath, [CLIENT_MAIN, "--upstream", "http://x", "--bogus-flag"]), (err: { code?: number; stderr?: string }) => {
      assert.notEqual(err.code, 0);
      assert.match(err.stderr ?? "", /Unknown argument.*bogus-flag/i);
      return true;
    });
    await assert.rejects(run(process.execPath, [CLIENT_MAIN, "--upstream", "ftp://x"]), (err: { stderr?: string }) => {
      assert.match(err.stderr ?? "", /--upstream ftp:\/\/x: must be an http\(s\) URL/);
      return true;
    });
  });

  test("without --router the client takes routers from NDN-FCH, skipping one it cannot reach", async () => {
    const dead = await freePort();
    const queries: URLSearchParams[] = [];
    const fch = createServer((req, res) => {
      queries.push(new URL(req.url ?? "/", "http://fch").searchParams);
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`127.0.0.1:${dead},127.0.0.1:${stack.forwarder.port}`); // the service's text form
    });
    await new Promise<void>((resolve) => fch.listen(0, "127.0.0.1", resolve));
    try {
      const client = await stack.startClient({ fch: `http://127.0.0.1:${(fch.address() as AddressInfo).port}/` });
      assert.equal(queries[0]?.get("cap"), "udp");
      assert.match(client.proc.grep(/"routers from NDN-FCH"/)[0] ?? "", new RegExp(`"routers":\\["tcp://127.0.0.1:${dead}","tcp://127.0.0.1:${stack.forwarder.port}"\\]`));
      await client.proc.waitForLine(new RegExp(`"router":"tcp://127.0.0.1:${stack.forwarder.port}".*"uplink up"`));
      const image = await pushTestImage(stack, "fch/image:v1", { format: "oci", layers: [200_000] });
      const pulled = await pullImage(client.host, "fch/image:v1", path.join(stack.runDir, "out-fch"));
      await verifyPulled(image, pulled);
      assert.equal((await blobSources(client, [image.layers[0]!.digest])).get(image.layers[0]!.digest), "ndn");
      await client.stop();
    } finally {
      fch.close();
    }
  });

  test("without --router, an NDN-FCH that cannot be reached is a clear error at start", async () => {
    const closed = await freePort();
    await assert.rejects(run(process.execPath, [CLIENT_MAIN, "--upstream", "http://127.0.0.1:1", "--fch", `http://127.0.0.1:${closed}/`]), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr ?? "", /no --router given, and NDN-FCH \(http:\/\/127\.0\.0\.1:\d+\/\) named no router .* --router unix:\/\/\/run\/nfd\/nfd\.sock/);
      return true;
    });
  });

  test("the packed client (pnpm pack:client) installs and runs as a command through npx", async () => {
    const out = path.join(stack.runDir, "pack");
    await run("bash", [path.join(ROOT, "scripts/pack-client"), out], { cwd: ROOT, timeout: 120_000 });
    const tarball = readdirSync(out).find((f) => /^ndn-registry-client-\d+\.\d+\.\d+\.tgz$/.test(f));
    assert.ok(tarball, `no tarball in ${readdirSync(out).join(", ")}`);
    const npx = (...args: string[]) => run("npx", ["--yes", `--package=${path.join(out, tarball)}`, "ndn-registry-client", ...args],
      { cwd: out, timeout: 180_000, env: { ...process.env, npm_config_cache: path.join(stack.runDir, "npm-cache") } });
    const { stdout } = await npx("--version");
    assert.equal(stdout.trim(), (JSON.parse(readFileSync(path.join(ROOT, "client/package.json"), "utf8")) as { version: string }).version);
    await assert.rejects(npx("--upstream", "ftp://x"), /must be an http\(s\) URL/);
  });

  test("every server setting it reads from the environment is in sample.env and the README", () => {
    const config = readFileSync(path.join(ROOT, "server/dist/config.js"), "utf8");
    const read = new Set([...config.matchAll(/env\[\s*"([A-Z_]+)"\s*\]|int\(env, "([A-Z_]+)"/g)].map((m) => m[1] ?? m[2]!));
    assert.ok(read.size >= 15, `found only ${[...read].join(", ")}`);
    const sample = readFileSync(path.join(ROOT, "sample.env"), "utf8");
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    for (const v of read) {
      assert.match(sample, new RegExp(`^${v}=`, "m"), `${v} missing from sample.env`);
      assert.ok(readme.includes(`\`${v}\``), `${v} missing from the README`);
    }
  });

  test("pm2 ecosystem file: the built server script, a restart delay", () => {
    const config = createRequire(import.meta.url)(path.join(ROOT, "ecosystem.config.cjs")) as { apps: Array<Record<string, unknown>> };
    const app = config.apps[0]!;
    assert.equal(app["name"], "ndn-registry-server");
    assert.ok(existsSync(path.join(String(app["cwd"]), String(app["script"]))), "script does not exist (build first)");
    assert.ok(Number(app["restart_delay"]) >= 1000);
    assert.equal(app["autorestart"], true);
  });

  test("the server's node flags and environment are the same in its shebang, package script, pm2 file and Dockerfile", () => {
    const flags = PRODUCTION_NODE_FLAGS.join(" ");
    const env = Object.entries(SERVER_NODE_ENV).map(([k, v]) => `${k}=${v}`).join(" ");
    const app = (createRequire(import.meta.url)(path.join(ROOT, "ecosystem.config.cjs")) as { apps: Array<Record<string, unknown>> }).apps[0]!;
    assert.equal(app["node_args"], flags);
    assert.deepEqual(app["env"], SERVER_NODE_ENV);
    assert.equal(readFileSync(path.join(ROOT, "server/src/main.ts"), "utf8").split("\n")[0], `#!/usr/bin/env -S ${env} node ${flags}`);
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    assert.ok(scripts["server"]!.includes(`${env} node ${flags} server/dist/main.js`), scripts["server"]);
    const dockerfile = readFileSync(path.join(ROOT, "server.Dockerfile"), "utf8");
    assert.ok(dockerfile.includes(`ENV NODE_ENV=production ${env} `), "server.Dockerfile: ENV");
    assert.ok(dockerfile.includes(`ENTRYPOINT ["node", ${PRODUCTION_NODE_FLAGS.map((f) => JSON.stringify(f)).join(", ")}, "dist/main.js"]`), "server.Dockerfile: ENTRYPOINT");
  });

  test("the client's node flags are the same in its shebang, package script and Dockerfile", () => {
    const flags = PRODUCTION_NODE_FLAGS.join(" ");
    assert.equal(readFileSync(path.join(ROOT, "client/src/main.ts"), "utf8").split("\n")[0], `#!/usr/bin/env -S node ${flags}`);
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    assert.ok(scripts["client"]!.includes(`&& node ${flags} client/dist/main.js`), scripts["client"]);
    const dockerfile = readFileSync(path.join(ROOT, "client.Dockerfile"), "utf8");
    assert.ok(dockerfile.includes(`ENTRYPOINT ["node", ${PRODUCTION_NODE_FLAGS.map((f) => JSON.stringify(f)).join(", ")}, "dist/main.js"]`), "client.Dockerfile: ENTRYPOINT");
  });

  test("NDN_KEYCHAIN: a key is created on first start, registration is signed with it, and a restart reuses it", async () => {
    const dir = path.join(stack.runDir, "keychain");
    const first = await stack.startServer({ NDN_KEYCHAIN: dir });
    const created = JSON.parse(first.grep(/"created prefix registration key"/)[0] ?? "null") as { key: string } | null;
    assert.ok(created, "no key was created");
    assert.match(created.key, /^\/ndnreg\/test\/server\/KEY\//);
    assert.ok(readdirSync(dir, { recursive: true }).length > 0, "the keychain directory is empty");
    await stack.stopServer();
    const second = await stack.startServer({ NDN_KEYCHAIN: dir });
    const used = JSON.parse(second.grep(/"using prefix registration key"/)[0] ?? "null") as { key: string } | null;
    assert.equal(used?.key, created.key);
    assert.equal(second.grep(/"created prefix registration key"/).length, 0);
  });

  test("production bundles (what the Dockerfiles copy) start and serve a pull", async () => {
    const out = path.join(stack.runDir, "bundles");
    for (const pkg of ["server", "client"]) {
      await run("pnpm", ["--filter", `@ndnreg/${pkg}`, "deploy", "--prod", "--legacy", path.join(out, pkg)], { cwd: ROOT, timeout: 120_000 });
      assert.ok(!existsSync(path.join(out, pkg, "node_modules", "typescript")), "dev dependencies in the bundle");
    }
    await stack.stopServer();
    const metricsPort = await freePort();
    const server = new ManagedProcess("bundle-server", process.execPath, [...PRODUCTION_NODE_FLAGS, path.join(out, "server/dist/main.js")], {
      logFile: path.join(stack.runDir, "bundle-server.log"), cwd: path.join(out, "server"),
      env: { ...process.env, ...SERVER_NODE_ENV, NDNTS_UPLINK: stack.forwarder.uri, REGISTRY_URL: stack.registry.url, NDN_PREFIX: stack.prefix, METRICS_LISTEN: `127.0.0.1:${metricsPort}` },
    });
    const port = await freePort();
    const client = new ManagedProcess("bundle-client", process.execPath, [...PRODUCTION_NODE_FLAGS, path.join(out, "client/dist/main.js"),
      "--upstream", stack.registry.url, "--name", stack.prefix, "--listen", `127.0.0.1:${port}`, "--router", stack.forwarder.uri], {
      logFile: path.join(stack.runDir, "bundle-client.log"), cwd: path.join(out, "client"),
    });
    try {
      await server.waitForLine(/"uplink up"/);
      await stack.waitForRoute();
      await client.waitForLine(/"client ready"/);
      await waitUntil("server healthz", async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => undefined))?.status === 200, 10_000, 100);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      const image = await pushTestImage(stack, "bundle/image:v1", { format: "oci", layers: [300_000] });
      const pulled = await pullImage(`127.0.0.1:${port}`, "bundle/image:v1", path.join(stack.runDir, "out-bundle"));
      await verifyPulled(image, pulled);
      assert.ok(client.grep(/"blob done"/).some((l) => l.includes('"source":"ndn"')), "no blob came over NDN");
    } finally {
      await client.stop();
      await server.stop();
    }
  });
});
