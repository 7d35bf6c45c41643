import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { createInterface } from "node:readline";

const running = new Set<ManagedProcess>();
process.on("exit", () => {
  for (const p of running) {
    p.child.kill("SIGKILL");
  }
});

/** A child process of the bench: output kept (tail in memory, all in a log file), always reaped. */
export class ManagedProcess {
  readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private readonly waiters = new Set<{ re: RegExp; resolve: (line: string) => void }>();
  private readonly listeners = new Set<(line: string) => void>();
  private readonly log: WriteStream;
  readonly exited: Promise<number | null>;

  /** `netns`: run inside that network namespace (`ip netns exec` execs the command: same pid). */
  constructor(readonly name: string, cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; logFile: string; cwd?: string; netns?: string }) {
    this.log = createWriteStream(opts.logFile, { flags: "a" });
    const [file, argv] = inNetns(opts.netns, cmd, args);
    this.child = spawn(file, argv, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
    running.add(this);
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => this.onLine(line));
    }
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => {
      running.delete(this);
      this.log.end();
      resolve(code);
    }));
    this.child.once("error", (err) => this.onLine(`spawn error: ${err.message}`));
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
      void this.exited.then((code) => {
        if (this.waiters.delete(w)) {
          clearTimeout(t);
          reject(new Error(`${this.name} exited (${code}) before printing ${re}; last output:\n${this.tail()}`));
        }
      });
    });
  }

  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 3000): Promise<void> {
    if (!this.running) {
      return;
    }
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** The command line that runs `cmd` inside network namespace `netns` (unchanged without one). */
export function inNetns(netns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return netns ? ["ip", ["netns", "exec", netns, cmd, ...args]] : [cmd, [...args]];
}

/** Poll until `check` resolves true. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
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
