import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";

import { findBearerChallenge, parseWwwAuthenticate } from "@ndnreg/shared/http";

import type { BlobLog, ClientHandle, Registry, Stack, TestImage } from "../bench/index.js";
import { createImage, type ImageSpec, procStrings, processTree, pushImage, readShebang, scrapeMetrics } from "../bench/index.js";

export { pushRawBlob, sha256Text } from "../bench/index.js";

let seq = 0;

/** Create an image under the stack's run dir and push it to the stack's registry. */
export async function pushTestImage(stack: Stack, ref: string, spec: ImageSpec): Promise<TestImage> {
  const image = createImage(path.join(stack.runDir, `image-${++seq}`), spec);
  await pushImage(image, stack.registry.host, ref, undefined, stack.registry.pushCreds);
  return image;
}

/**
 * Where each blob's bytes came from, per the client's "blob done" log lines (waited for: the line
 * is written just after the response ends).
 */
export async function blobSources(client: ClientHandle, digests: readonly string[]): Promise<Map<string, BlobLog["source"] | "missing">> {
  const out = new Map<string, BlobLog["source"] | "missing">();
  for (const d of digests) {
    try {
      await client.proc.waitForLine(new RegExp(`"digest":"${d}".*"blob done"`), 5000);
    } catch {
      out.set(d, "missing");
      continue;
    }
    out.set(d, client.blobLogs().findLast((l) => l.digest === d)!.source);
  }
  return out;
}

/** Authorization to push to a registry with token auth, minted by its issuer (not counted there); {} otherwise. */
export function pushHeaders(registry: Registry, repository: string): Record<string, string> {
  const issuer = registry.tokenIssuer;
  return issuer ? { authorization: `Bearer ${issuer.mint("tester", [{ type: "repository", name: repository, actions: ["pull", "push"] }])}` } : {};
}

/**
 * Authorization for what `url` is about, obtained as Docker obtains it: ask, and on a 401 Bearer
 * challenge get a token from the realm it names (directly, whoever relayed the 401). `creds`
 * ("user:password") authenticate at the realm; without them the token is anonymous. {} when `url`
 * needs no token.
 */
export async function tokenFor(url: string, creds?: string): Promise<Record<string, string>> {
  const first = await fetch(url, { method: "HEAD" });
  const challenge = first.status === 401 ? findBearerChallenge(parseWwwAuthenticate(first.headers.get("www-authenticate") ?? undefined)) : undefined;
  if (!challenge) {
    return {};
  }
  const realm = new URL(challenge.realm);
  if (challenge.service) {
    realm.searchParams.set("service", challenge.service);
  }
  if (challenge.scope) {
    realm.searchParams.set("scope", challenge.scope);
  }
  const tokenRes = await fetch(realm, { headers: creds ? { authorization: `Basic ${Buffer.from(creds).toString("base64")}` } : {} });
  if (tokenRes.status !== 200) {
    throw new Error(`token realm ${realm.href}: ${tokenRes.status}`);
  }
  const { token } = await tokenRes.json() as { token: string };
  return { authorization: `Bearer ${token}` };
}

/** fetch() with the token `tokenFor(url)` gets (one challenge answered, as Docker does). */
export async function fetchWithToken(url: string, init: RequestInit = {}, creds?: string): Promise<Response> {
  return fetch(url, { ...init, headers: { ...init.headers as Record<string, string>, ...await tokenFor(url, creds) } });
}

/**
 * The process tree started as `root` runs node with exactly the flags of `main`'s shebang before
 * the file, and with the shebang's environment: the launch settings arrived from their only copy.
 * `file`: the entry file as that process names it (e.g. /app/dist/main.js in an image), resolved
 * against `cwd`.
 */
export function assertLaunchedByShebang(root: number, main: string, runs: { file?: string; cwd?: string } = {}): void {
  const shebang = readShebang(main);
  assert.ok(shebang.nodeArgs.length > 0, `${main}: the shebang gives node no flags`);
  const file = runs.file ?? main;
  const isFile = (arg: string) => path.resolve(runs.cwd ?? "/", arg) === file;
  const pid = processTree(root).find((p) => procStrings(p, "cmdline").some(isFile));
  assert.ok(pid, `no process under ${root} runs ${file}`);
  const argv = procStrings(pid, "cmdline");
  assert.equal(path.basename(argv[0]!), "node", argv.join(" "));
  assert.deepEqual(argv.slice(1, argv.findIndex(isFile)), shebang.nodeArgs, `node's flags: ${argv.join(" ")}`);
  const environ = procStrings(pid, "environ");
  for (const [k, v] of Object.entries(shebang.env)) {
    assert.ok(environ.some((e) => sameSetting(k, v, e)), `${k}=${v} missing from the environment of ${argv.join(" ")}`);
  }
  // The loader skips a preloaded library it cannot find (with a warning only): it must be mapped.
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8");
  for (const lib of (shebang.env["LD_PRELOAD"] ?? "").split(/[ :]/).filter(Boolean)) {
    assert.ok(maps.includes(`/${lib}\n`), `${lib} (LD_PRELOAD) is not loaded in ${argv.join(" ")}`);
  }
}

/**
 * Whether `entry` of a process's environment is `k`=`v`. glibc's loader rewrites GLIBC_TUNABLES in
 * place (Debian's 2.36 keeps only the first tunable in the string, though it applies all of them):
 * there a non-empty run of the tunables given, in their order, counts.
 */
function sameSetting(k: string, v: string, entry: string): boolean {
  if (k !== "GLIBC_TUNABLES" || !entry.startsWith(`${k}=`)) {
    return entry === `${k}=${v}`;
  }
  const seen = entry.slice(k.length + 1);
  return seen !== "" && (seen === v || v.startsWith(`${seen}:`));
}

/** The client's last "blob done" line for a digest (waited for). */
export async function blobLog(client: ClientHandle, digest: string): Promise<BlobLog> {
  await client.proc.waitForLine(new RegExp(`"digest":"${digest}".*"blob done"`), 5000);
  return client.blobLogs().findLast((l) => l.digest === digest)!;
}

/** One series of a process's /metrics (`url` its metrics listener), 0 while it has none. */
export async function metric(url: string, series: string): Promise<number> {
  return (await scrapeMetrics(`${url}/metrics`)).get(series) ?? 0;
}
