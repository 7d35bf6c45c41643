import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, describe, test } from "node:test";

import { envName, integer, loadSettings, type LoadOptions, optional, type SettingTable, text } from "@ndnreg/shared/config";

import { CLIENT_MAIN, SERVER_MAIN } from "../bench/index.js";
import { envNames, readmeSettingsSection, SETTING_TABLES, settingsMarkdown } from "../docs/settings-docs.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAINS = { server: SERVER_MAIN, client: CLIENT_MAIN } as const;
/** What both processes have, with the same flag and variables. */
const COMMON = ["upstream", "name", "router", "metrics-listen", "log-level"];

const dir = mkdtempSync(path.join(tmpdir(), "ndnreg-configuration-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A .env file of these lines in a directory of its own. */
function envFile(lines: readonly string[]): string {
  const sub = mkdtempSync(path.join(dir, "env-"));
  writeFileSync(path.join(sub, ".env"), `${lines.join("\n")}\n`);
  return path.join(sub, ".env");
}

/** An entry file run as its launchers run it, in `cwd`, with exactly `env` (and PATH); its exit code and output. */
async function runMain(
  main: string, args: readonly string[], env: Record<string, string>, cwd = dir,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(main, [...args], { cwd, env: { PATH: process.env["PATH"] ?? "", ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err: unknown) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("configuration: one declaration per process gives flags, variables, defaults, help and validation", () => {
  const table = {
    upstream: { describe: "u", parse: (t: string) => new URL(t) },
    router: { describe: "r", default: "unix:///run/nfd/nfd.sock", envAliases: ["NDNTS_UPLINK"], parse: text },
    "idle-timeout": { describe: "i", default: "5000", parse: integer(1, 100_000) },
    password: { describe: "p", default: "", secret: true, parse: optional(integer(0, 9)) },
  } satisfies SettingTable;
  const base: Omit<LoadOptions, "argv" | "env"> = { program: "t", usage: "t", version: "1" };
  const load = (argv: string[], env: Record<string, string>, file?: string, retired?: Record<string, string>) =>
    loadSettings(table, { ...base, argv, env, envFile: file, retired });

  test("a flag wins over the environment, which wins over .env, which wins over the default", () => {
    const file = envFile(["NDNREG_IDLE_TIMEOUT=3", "NDNREG_UPSTREAM=http://file"]);
    assert.equal(load([], { NDNREG_UPSTREAM: "http://env" }, file)["idle-timeout"], 3);
    assert.equal(load([], { NDNREG_UPSTREAM: "http://env", NDNREG_IDLE_TIMEOUT: "2" }, file)["idle-timeout"], 2);
    assert.equal(load(["--idle-timeout", "1"], { NDNREG_UPSTREAM: "http://env", NDNREG_IDLE_TIMEOUT: "2" }, file)["idle-timeout"], 1);
    assert.equal(load([], { NDNREG_UPSTREAM: "http://env" })["idle-timeout"], 5000);
    assert.equal(load([], {}, file).upstream.href, "http://file/");
    assert.equal(load(["--upstream=http://flag"], { NDNREG_UPSTREAM: "http://env" }, file).upstream.href, "http://flag/");
  });

  test("an alias is read after the setting's own variable, at each level", () => {
    const env = { NDNREG_UPSTREAM: "http://x" };
    assert.equal(load([], { ...env, NDNTS_UPLINK: "alias" }).router, "alias");
    assert.equal(load([], { ...env, NDNTS_UPLINK: "alias", NDNREG_ROUTER: "own" }).router, "own");
    assert.equal(load([], { ...env, NDNTS_UPLINK: "alias" }, envFile(["NDNREG_ROUTER=file"])).router, "alias");
    assert.equal(load([], env, envFile(["NDNTS_UPLINK=file-alias"])).router, "file-alias");
  });

  test("only declared variables are read: other NDNREG_* variables, in the environment or .env, change nothing", () => {
    const values = load([], { NDNREG_UPSTREAM: "http://x", NDNREG_FOO: "1", NDNREG_IDLE: "7" }, envFile(["NDNREG_BAR=2"]));
    assert.deepEqual({ ...values, upstream: values.upstream.href }, { upstream: "http://x/", router: "unix:///run/nfd/nfd.sock", "idle-timeout": 5000, password: undefined });
  });

  test("errors are one line naming where the bad text came from; secrets are not echoed", () => {
    const env = { NDNREG_UPSTREAM: "http://x" };
    const cases: Array<[() => unknown, RegExp]> = [
      [() => load([], {}), /^--upstream \(or NDNREG_UPSTREAM\) is required: u$/],
      [() => load(["--idle-timeout", "x"], env), /^--idle-timeout x: expected an integer in \[1, 100000\]$/],
      [() => load([], { ...env, NDNREG_IDLE_TIMEOUT: "0" }), /^NDNREG_IDLE_TIMEOUT=0: expected an integer/],
      [() => load([], env, envFile(["NDNREG_IDLE_TIMEOUT=-1"])), /^NDNREG_IDLE_TIMEOUT=-1 in \/.*\/\.env: expected an integer/],
      [() => load([], { ...env, NDNREG_PASSWORD: "hunter2" }), /^NDNREG_PASSWORD=\(hidden\): expected an integer in \[0, 9\]$/],
      [() => load(["--bogus"], env), /^Unknown argument: bogus \(run with --help for the flags\)$/],
      [() => load(["--upstream"], {}), /^Not enough arguments following: upstream/],
      [() => load(["stray"], env), /^Unknown argument: stray/],
    ];
    for (const [f, re] of cases) {
      assert.throws(f, (err: Error) => {
        assert.match(err.message, re);
        assert.doesNotMatch(err.message, /\n|hunter2/);
        return true;
      });
    }
  });

  test("a retired variable set in the environment or .env stops the process with one line naming the replacement", () => {
    const retired = { OLD_URL: "upstream", OLD_IDLE: "idle-timeout" };
    assert.throws(() => load(["--upstream", "http://x"], { OLD_URL: "http://y" }, undefined, retired),
      { message: "settings were renamed, and the old names are no longer read: OLD_URL is now NDNREG_UPSTREAM (--upstream)" });
    assert.throws(() => load([], { OLD_URL: "" }, envFile(["OLD_IDLE=1"]), retired),
      { message: /OLD_URL is now NDNREG_UPSTREAM \(--upstream\); OLD_IDLE \(in \/.*\.env\) is now NDNREG_IDLE_TIMEOUT \(--idle-timeout\)$/ });
  });

  test("both processes take the same flags and variables for the same things", () => {
    for (const flag of COMMON) {
      for (const t of Object.values(SETTING_TABLES)) {
        assert.ok(flag in t, `--${flag} missing`);
      }
      assert.deepEqual(envNames(flag, SETTING_TABLES.server), envNames(flag, SETTING_TABLES.client), flag);
    }
    assert.deepEqual(envNames("router", SETTING_TABLES.server), ["NDNREG_ROUTER", "NDNTS_UPLINK"]);
  });

  test("--help lists exactly the declared flags with their variables", async () => {
    for (const [name, t] of Object.entries(SETTING_TABLES)) {
      const { code, stdout } = await runMain(MAINS[name as keyof typeof MAINS], ["--help"], {});
      assert.equal(code, 0, stdout);
      const flags = [...stdout.matchAll(/^ {2}--([a-z-]+) /gm)].map((m) => m[1]!).filter((f) => f !== "help" && f !== "version");
      assert.deepEqual(flags, Object.keys(t), `${name} --help`);
      for (const flag of flags) {
        assert.ok(envNames(flag, t).every((n) => stdout.replace(/\s+/g, " ").includes(n)), `${name} --help: the variable of --${flag}`);
      }
    }
  });

  test("the README's settings tables are the declarations (`pnpm docs:settings` rewrites them)", () => {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    for (const [name, t] of Object.entries(SETTING_TABLES)) {
      assert.equal(readmeSettingsSection(readme, name), settingsMarkdown(t), `the README's ${name} settings: run \`pnpm docs:settings\``);
    }
  });

  test("sample.env names every declared variable once, and nothing else", () => {
    const sample = readFileSync(path.join(ROOT, "sample.env"), "utf8");
    const named = [...sample.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    const declared = new Set(Object.values(SETTING_TABLES).flatMap((t) => Object.entries(t).filter(([, s]) => !s.flagOnly).map(([flag]) => envName(flag))));
    assert.deepEqual([...new Set(named)].sort(), [...declared].sort());
    assert.equal(named.length, new Set(named).size, "a variable is named twice");
  });

  test("the server stops at once on a retired variable, from the environment or ./.env, naming its replacement", async () => {
    const fromEnv = await runMain(SERVER_MAIN, [], { REGISTRY_URL: "http://127.0.0.1:1" });
    assert.equal(fromEnv.code, 1);
    assert.equal(fromEnv.stderr, "ndn-registry-server: settings were renamed, and the old names are no longer read: REGISTRY_URL is now NDNREG_UPSTREAM (--upstream)\n");
    const fromFile = await runMain(SERVER_MAIN, [], {}, path.dirname(envFile(["NDN_PREFIX=/old", "NDNTS_UPLINK=unix:///x"])));
    assert.equal(fromFile.code, 1);
    assert.equal(fromFile.stderr, "ndn-registry-server: settings were renamed, and the old names are no longer read: NDN_PREFIX (in .env) is now NDNREG_NAME (--name)\n");
  });

  test("both processes read ./.env below the environment and the flags, and ignore undeclared NDNREG_* variables", async () => {
    const cwd = path.dirname(envFile(["NDNREG_LOG_LEVEL=from-file", "NDNREG_UPSTREAM=http://127.0.0.1:1"]));
    for (const [name, main] of Object.entries(MAINS)) {
      const env = { NDNREG_FOO: "1", NDNREG_BAR_BAZ: "x" };
      const file = await runMain(main, [], env, cwd);
      assert.equal(file.stderr, `ndn-registry-${name}: NDNREG_LOG_LEVEL=from-file in .env: expected one of trace, debug, info, warn, error, fatal, silent\n`);
      const fromEnv = await runMain(main, [], { ...env, NDNREG_LOG_LEVEL: "from-env" }, cwd);
      assert.match(fromEnv.stderr, /^ndn-registry-\w+: NDNREG_LOG_LEVEL=from-env: expected one of/);
      const flag = await runMain(main, ["--log-level", "from-flag"], { ...env, NDNREG_LOG_LEVEL: "from-env" }, cwd);
      assert.match(flag.stderr, /^ndn-registry-\w+: --log-level from-flag: expected one of/);
      assert.deepEqual([file.code, fromEnv.code, flag.code], [1, 1, 1]);
    }
  });
});
