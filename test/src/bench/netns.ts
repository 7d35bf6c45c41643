import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";

import { inNetns } from "./process.js";

const run = promisify(execFile);

/** Every namespace this bench owns starts with this, then its creator's pid (see sweepStale). */
const NETNS_PREFIX = "wb-";

const owned = new Set<string>();
let hooked = false;

/** Delete our namespaces on any exit; Ctrl-C and SIGTERM exit through it too. */
function hookCleanup(): void {
  if (hooked) {
    return;
  }
  hooked = true;
  process.on("exit", () => {
    for (const name of owned) {
      try {
        execFileSync("ip", ["netns", "delete", name], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
  });
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.once(signal, () => process.exit(code));
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Delete namespaces left by a bench that was killed outright (its pid, in their names, is gone). */
export async function sweepStaleNetns(): Promise<void> {
  const { stdout } = await run("ip", ["netns", "list"]);
  for (const line of stdout.split("\n")) {
    const m = new RegExp(`^(${NETNS_PREFIX}(\\d+)-\\S+)`).exec(line);
    if (m && Number(m[2]) !== process.pid && !pidAlive(Number(m[2]))) {
      await run("ip", ["netns", "delete", m[1]!]).catch(() => undefined);
    }
  }
}

/** A network namespace owned by this process: deleted by delete() or when the process exits. */
export class Netns {
  private constructor(readonly name: string) {}

  /** `wb-<pid>-<label>`; loopback up, IPv4 forwarding as asked. */
  static async create(label: string, opts: { forwarding?: boolean } = {}): Promise<Netns> {
    hookCleanup();
    const ns = new Netns(`${NETNS_PREFIX}${process.pid}-${label}`);
    await run("ip", ["netns", "add", ns.name]);
    owned.add(ns.name);
    await ns.ip("link", "set", "lo", "up");
    await ns.exec("sysctl", ["-qw", `net.ipv4.ip_forward=${opts.forwarding ? 1 : 0}`]);
    return ns;
  }

  /** Run a command inside; resolves with its stdout, rejects with its stderr. */
  async exec(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
    const [file, argv] = inNetns(this.name, cmd, args);
    try {
      return (await run(file, argv, { timeout: timeoutMs, maxBuffer: 16 << 20 })).stdout;
    } catch (err: unknown) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${this.name}: ${cmd} ${args.join(" ")}: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  }

  /** `ip -n <ns> <args>`. */
  async ip(...args: string[]): Promise<string> {
    try {
      return (await run("ip", ["-n", this.name, ...args])).stdout;
    } catch (err: unknown) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`ip -n ${this.name} ${args.join(" ")}: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  }

  async delete(): Promise<void> {
    owned.delete(this.name);
    await run("ip", ["netns", "delete", this.name]).catch(() => undefined);
  }
}

/**
 * The HTTP status of a GET of `url`, asked from inside `netns` (the bench's own namespace cannot
 * reach most of them); 0 when nothing answers.
 */
export async function httpStatusIn(netns: string, url: string): Promise<number> {
  const [file, argv] = inNetns(netns, "curl", ["-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", url]);
  try {
    return Number((await run(file, argv)).stdout);
  } catch {
    return 0;
  }
}
