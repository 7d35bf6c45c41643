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

import { type BlobLog, CLIENT_MAIN, freePort, ManagedProcess, pullImage, readShebang, SERVER_MAIN, Stack, verifyPulled, waitUntil } from "../bench/index.js";
import { assertLaunchedByShebang, blobSources, pushTestImage } from "./helpers.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** pm2 as the README's `npx pm2 start ecosystem.config.cjs` runs it, pinned. */
const PM2 = "pm2@7.0.4";

/**
 * The README's command line for a package script (`pnpm start:server`, `pnpm start:client ...`),
 * from its sh blocks, as words. Quoting is not supported: the README's commands need none.
 */
function readmeCommand(script: string): string[] {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const lines = [...readme.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)]
    .flatMap((m) => m[1]!.replaceAll("\\\n", " ").split("\n"))
    .map((l) => l.replace(/(^|\s)#.*$/, "").trim());
  const line = lines.find((l) => l.split(/\s+/).slice(0, 2).join(" ") === `pnpm ${script}`);
  assert.ok(line, `no \`pnpm ${script}\` line in the README's sh blocks`);
  assert.doesNotMatch(line, /["'$`;&|<>]/, `the README's \`pnpm ${script}\` line needs a shell to read: ${line}`);
  return line.split(/\s+/);
}

/** The command with the test's value for each flag of `values` it gives, and the flags of `add` it lacks. */
function withFlagValues(words: readonly string[], values: Readonly<Record<string, string>>, add: readonly string[]): string[] {
  const out = [...words];
  for (let i = 0; i < out.length - 1; i++) {
    const value = values[out[i]!];
    if (value !== undefined) {
      out[++i] = value;
    }
  }
  for (const flag of add) {
    if (!out.includes(flag)) {
      out.push(flag, values[flag]!);
    }
  }
  return out;
}


describe("operations: command line, pm2, keys, production bundles", () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ label: "ops" });
  });
  after(async () => {
    await stack?.stop();
  });

  test("a bad flag or value is one clear line, and the exit code 1", async () => {
    for (const [args, message] of [
      [["--upstream", "http://x", "--bogus-flag"], "ndn-registry-client: Unknown argument: bogus-flag (run with --help for the flags)\n"],
      [["--upstream", "ftp://x"], "ndn-registry-client: --upstream ftp://x: must be an http(s) URL\n"],
    ] as const) {
      await assert.rejects(run(CLIENT_MAIN, [...args]), (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 1);
        assert.equal(err.stderr, message);
        return true;
      });
    }
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

  test("the README's commands start both processes through their entry files' shebangs, and serve a pull over NDN", async () => {
    await stack.stopServer(); // the README's server takes over the prefix
    const metricsPort = await freePort();
    const listen = `127.0.0.1:${await freePort()}`;
    const values = {
      "--upstream": stack.registry.url, "--name": stack.prefix, "--router": stack.forwarder.uri, "--listen": listen,
      "--metrics-listen": `127.0.0.1:${metricsPort}`,
    };
    const [serverCmd, ...serverArgs] = withFlagValues(readmeCommand("start:server"), values, ["--router", "--metrics-listen"]);
    const [clientCmd, ...clientArgs] = withFlagValues(readmeCommand("start:client"), values, ["--router", "--listen"]);
    // Only declared variables are read: an unrelated NDNREG_* variable changes nothing.
    const env = { ...process.env, NDNREG_UNRELATED_SETTING: "1" };
    const server = new ManagedProcess("readme-server", serverCmd!, serverArgs, {
      logFile: path.join(stack.runDir, "readme-server.log"), cwd: ROOT, env, group: true,
    });
    try {
      await server.waitForLine(/"uplink up"/, 60_000);
      await stack.waitForRoute();
      const client = new ManagedProcess("readme-client", clientCmd!, clientArgs, {
        logFile: path.join(stack.runDir, "readme-client.log"), cwd: ROOT, env, group: true,
      });
      try {
        await client.waitForLine(/"client ready"/, 60_000);
        assertLaunchedByShebang(server.child.pid!, SERVER_MAIN, { cwd: ROOT });
        assertLaunchedByShebang(client.child.pid!, CLIENT_MAIN, { cwd: ROOT });
        assert.ok("GLIBC_TUNABLES" in readShebang(SERVER_MAIN).env, "the server's shebang no longer sets GLIBC_TUNABLES");

        const image = await pushTestImage(stack, "readme/image:v1", { format: "oci", layers: [300_000] });
        const pulled = await pullImage(listen, "readme/image:v1", path.join(stack.runDir, "out-readme"));
        await verifyPulled(image, pulled);
        const handle = {
          proc: client, host: listen, url: `http://${listen}`, stop: () => client.stop(),
          blobLogs: () => client.grep(/"blob done"/).map((l) => JSON.parse(l) as BlobLog),
        };
        assert.equal((await blobSources(handle, [image.layers[0]!.digest])).get(image.layers[0]!.digest), "ndn");
      } finally {
        await client.stop();
      }
    } finally {
      await server.stop();
    }
    await stack.startServer();
  });

  test("pm2 runs the server's entry file through its shebang, with a restart delay", async () => {
    const config = createRequire(import.meta.url)(path.join(ROOT, "ecosystem.config.cjs")) as { apps: Array<Record<string, unknown>> };
    const app = config.apps[0]!;
    assert.equal(app["name"], "ndn-registry-server");
    assert.equal(path.join(String(app["cwd"]), String(app["script"])), SERVER_MAIN);
    assert.ok(Number(app["restart_delay"]) >= 1000);
    assert.equal(app["autorestart"], true);

    const env = {
      ...process.env, PM2_HOME: path.join(stack.runDir, "pm2"), npm_config_cache: path.join(stack.runDir, "npm-cache"),
      NDNREG_ROUTER: stack.forwarder.uri, NDNREG_UPSTREAM: stack.registry.url, NDNREG_NAME: "/ndnreg/pm2", NDNREG_METRICS_LISTEN: "",
    };
    const pm2 = (...args: string[]) => run("npx", ["--yes", PM2, ...args], { cwd: ROOT, env, timeout: 180_000 });
    try {
      await pm2("start", "ecosystem.config.cjs");
      let pid = 0;
      await waitUntil("pm2's server online", async () => {
        const [proc] = JSON.parse((await pm2("jlist")).stdout) as Array<{ pid: number; pm2_env: { status: string } }>;
        pid = proc?.pm2_env.status === "online" ? proc.pid : 0;
        return pid > 0;
      }, 30_000, 500);
      assertLaunchedByShebang(pid, SERVER_MAIN);
    } finally {
      await pm2("kill");
    }
  });

  test("--keychain: a key is created on first start, registration is signed with it, and a restart reuses it", async () => {
    const dir = path.join(stack.runDir, "keychain");
    const first = await stack.startServer({ NDNREG_KEYCHAIN: dir });
    const created = JSON.parse(first.grep(/"created server key"/)[0] ?? "null") as { key: string } | null;
    assert.ok(created, "no key was created");
    assert.match(created.key, /^\/ndnreg\/test\/server\/KEY\//);
    assert.ok(readdirSync(dir, { recursive: true }).length > 0, "the keychain directory is empty");
    await stack.stopServer();
    const second = await stack.startServer({ NDNREG_KEYCHAIN: dir });
    const used = JSON.parse(second.grep(/"using server key"/)[0] ?? "null") as { key: string } | null;
    assert.equal(used?.key, created.key);
    assert.equal(second.grep(/"created server key"/).length, 0);
  });

  test("production bundles (what the Dockerfiles copy) start and serve a pull", async () => {
    const out = path.join(stack.runDir, "bundles");
    for (const pkg of ["server", "client"]) {
      await run("pnpm", ["--filter", `@ndnreg/${pkg}`, "deploy", "--prod", "--legacy", path.join(out, pkg)], { cwd: ROOT, timeout: 120_000 });
      assert.ok(!existsSync(path.join(out, pkg, "node_modules", "typescript")), "dev dependencies in the bundle");
    }
    await stack.stopServer();
    const metricsPort = await freePort();
    // Each file itself, as the Dockerfiles' ENTRYPOINT runs it (pnpm deploy keeps the mode the build set).
    const server = new ManagedProcess("bundle-server", path.join(out, "server/dist/main.js"), [], {
      logFile: path.join(stack.runDir, "bundle-server.log"), cwd: path.join(out, "server"),
      env: {
        ...process.env, NDNREG_ROUTER: stack.forwarder.uri, NDNREG_UPSTREAM: stack.registry.url, NDNREG_NAME: stack.prefix,
        NDNREG_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      },
    });
    const port = await freePort();
    const client = new ManagedProcess("bundle-client", path.join(out, "client/dist/main.js"), [
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
