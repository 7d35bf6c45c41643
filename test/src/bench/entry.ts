import { readFileSync } from "node:fs";

/** What an entry file's `#!/usr/bin/env -S [NAME=value ...] node [flag ...]` line runs. */
export interface Shebang {
  readonly env: Readonly<Record<string, string>>;
  readonly nodeArgs: readonly string[];
}

/** The launch settings of server/dist/main.js or client/dist/main.js: their only copy is this line. */
export function readShebang(file: string): Shebang {
  const line = readFileSync(file, "utf8").split("\n", 1)[0] ?? "";
  const words = /^#!\/usr\/bin\/env -S (.*)$/.exec(line)?.[1]?.split(/\s+/).filter(Boolean);
  if (!words) {
    throw new Error(`${file}: the first line is not a "#!/usr/bin/env -S ... node ..." shebang: ${line}`);
  }
  const env: Record<string, string> = {};
  for (let w = words[0]; w !== undefined && /^[A-Z_][A-Z0-9_]*=/.test(w); w = words[0]) {
    words.shift();
    env[w.slice(0, w.indexOf("="))] = w.slice(w.indexOf("=") + 1);
  }
  if (words.shift() !== "node") {
    throw new Error(`${file}: the shebang does not run node: ${line}`);
  }
  return { env, nodeArgs: words };
}

/** Extra node flags for server and client, e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" or "--trace-gc". */
const BENCH_NODE_ARGS = words(process.env["BENCH_NODE_ARGS"]);
/** Extra node flags for clients only (after BENCH_NODE_ARGS), e.g. BENCH_CLIENT_NODE_ARGS="--trace-gc-nvp". */
const BENCH_CLIENT_NODE_ARGS = words(process.env["BENCH_CLIENT_NODE_ARGS"]);
/** The node binary clients run, e.g. BENCH_CLIENT_NODE=/opt/node24/bin/node (the images run Node 24); unset: the bench's own. */
const BENCH_CLIENT_NODE = process.env["BENCH_CLIENT_NODE"] || undefined;

function words(s: string | undefined): string[] {
  return (s ?? "").split(" ").filter(Boolean);
}

/**
 * How the bench starts an entry file: the file itself, as every launcher does, so that its shebang
 * sets node's flags and environment. With BENCH_NODE_ARGS (which a shebang cannot take, and many
 * of which NODE_OPTIONS refuses), node is started with the shebang's flags and environment plus those
 * (and, for a `client`, BENCH_CLIENT_NODE_ARGS). A `client` runs on BENCH_CLIENT_NODE when it is set.
 */
export function entryCommand(file: string, args: readonly string[], role: "server" | "client" = "server"): { cmd: string; args: string[]; env: Record<string, string> } {
  const extra = role === "client" ? [...BENCH_NODE_ARGS, ...BENCH_CLIENT_NODE_ARGS] : BENCH_NODE_ARGS;
  const node = role === "client" ? BENCH_CLIENT_NODE : undefined;
  if (extra.length === 0 && node === undefined) {
    return { cmd: file, args: [...args], env: {} };
  }
  const shebang = readShebang(file);
  return { cmd: node ?? process.execPath, args: [...shebang.nodeArgs, ...extra, file, ...args], env: { ...shebang.env } };
}
