import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, createWriteStream, type WriteStream } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Where `cmd` would be run from (PATH lookup for a bare name), or undefined when it cannot be. */
export function findProgram(cmd: string, pathVar = process.env["PATH"] ?? ""): string | undefined {
  const candidates = cmd.includes("/") ? [cmd] : pathVar.split(":").filter(Boolean).map((dir) => path.join(dir, cmd));
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The command that puts the bench's programs on this machine. */
export const INSTALL_HINT = `run \`sudo bash .ci/install-deps\` in ${ROOT.replace(/\/$/, "")}`;

/** Throws one clear line when `cmd` is not installed, instead of letting a start-up wait time out. */
export function requireProgram(cmd: string, pathVar?: string): void {
  if (findProgram(cmd, pathVar) === undefined) {
    throw new Error(cmd.includes("/") ? `${cmd} does not exist or is not executable` : `${cmd} is not installed (not on PATH): ${INSTALL_HINT}`);
  }
}

const running = new Set<ManagedProcess>();
process.on("exit", () => {
  for (const p of running) {
    p.kill("SIGKILL");
  }
});

/** A child process of the bench: output kept (tail in memory, all in a log file), always reaped. */
export class ManagedProcess {
  readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private readonly waiters = new Set<{ re: RegExp; resolve: (line: string) => void }>();
  private readonly listeners = new Set<(line: string) => void>();
  private readonly log: WriteStream;
  private readonly group: boolean;
  readonly exited: Promise<number | null>;
  /** Its output fully read (after the exit, unless processes it started still hold the pipes). */
  private readonly closed: Promise<void>;

  /**
   * `group`: the command starts others (e.g. `pnpm start:server` runs a shell that runs the server):
   * it gets a process group of its own, and signals go to the whole group. `netns`: run inside that
   * network namespace (`ip netns exec` execs the command: same pid).
   */
  constructor(
    readonly name: string, cmd: string, args: readonly string[],
    opts: { env?: NodeJS.ProcessEnv; logFile: string; cwd?: string; group?: boolean; netns?: string },
  ) {
    requireProgram(cmd, opts.env?.["PATH"]);
    this.log = createWriteStream(opts.logFile, { flags: "a" });
    this.group = opts.group ?? false;
    const [file, argv] = inNetns(opts.netns, cmd, args);
    this.child = spawn(file, argv, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"], detached: this.group });
    running.add(this);
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => this.onLine(line));
    }
    this.exited = new Promise((resolve) => {
      const done = (code: number | null) => {
        running.delete(this);
        this.log.end();
        resolve(code);
      };
      this.child.once("exit", done);
      this.child.once("error", (err) => {
        this.onLine(`spawn error: ${err.message}`);
        if (this.child.pid === undefined) {
          done(null); // never started: no exit event follows
        }
      });
    });
    this.closed = new Promise((resolve) => this.child.once("close", () => resolve()));
  }

  private onLine(line: string): void {
    this.lines.push(line);
    if (this.lines.length > 2000) {
      this.lines.splice(0, 1000);
    }
    this.log.write(`${line}\n`);
    for (const l of this.listeners) {
      l(line);
    }
    for (const w of this.waiters) {
      if (w.re.test(line)) {
        this.waiters.delete(w);
        w.resolve(line);
      }
    }
  }

  /** Call `fn` for every future output line. */
  subscribe(fn: (line: string) => void): void {
    this.listeners.add(fn);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Lines printed so far that match. */
  grep(re: RegExp): string[] {
    return this.lines.filter((l) => re.test(l));
  }

  tail(n = 30): string {
    return this.lines.slice(-n).join("\n");
  }

  /** Wait for an output line (already printed or future) matching `re`. */
  waitForLine(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) {
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const w = { re, resolve: (l: string) => { clearTimeout(t); resolve(l); } };
      const t = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms; last output:\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(w);
      void this.exited.then(async (code) => {
        await Promise.race([this.closed, new Promise((r) => setTimeout(r, 500))]); // its last lines
        if (this.waiters.delete(w)) {
          clearTimeout(t);
          reject(new Error(`${this.name} exited (${code ?? "killed"}) before printing ${re}; last output:\n${this.tail()}`));
        }
      });
    });
  }

  /**
   * Poll `check` until it is true, as waitUntil does; if the process exits first, fail at once with
   * its own last output (a registry that cannot start says why, rather than a timeout).
   */
  async waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<void> {
    let exitCode: number | null | undefined;
    void this.exited.then((code) => { exitCode = code; });
    await waitUntil(what, check, timeoutMs, everyMs, async () => {
      if (exitCode === undefined) {
        return undefined;
      }
      await Promise.race([this.closed, new Promise((r) => setTimeout(r, 500))]); // its last lines
      return new Error(`${this.name} exited (${exitCode ?? "killed"}) before ${what}; last output:\n${this.tail()}`);
    });
  }

  /** Signal the process (or its whole group); false when there was nothing left to signal. */
  kill(signal: NodeJS.Signals | 0): boolean {
    if (!this.group) {
      return this.running && signal !== 0 ? this.child.kill(signal) : this.running;
    }
    try {
      process.kill(-this.child.pid!, signal);
      return true;
    } catch {
      return false;
    }
  }

  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 3000): Promise<void> {
    if (!this.kill(0)) {
      return;
    }
    this.kill(signal);
    const t = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await this.exited;
    // The group's leader may exit before the processes it started.
    const deadline = Date.now() + graceMs;
    while (this.kill(0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    clearTimeout(t);
    this.kill("SIGKILL");
  }
}

/** The command line that runs `cmd` inside network namespace `netns` (unchanged without one). */
export function inNetns(netns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return netns ? ["ip", ["netns", "exec", netns, cmd, ...args]] : [cmd, [...args]];
}

/** Poll until `check` resolves true; `gaveUp` ends the wait early with its error (e.g. the process exited). */
export async function waitUntil(
  what: string, check: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 50, gaveUp?: () => Promise<Error | undefined>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const err = await gaveUp?.();
    if (err) {
      throw err;
    }
    try {
      if (await check()) {
        return;
      }
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
