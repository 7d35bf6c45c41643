import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

import { ManagedProcess, requireProgram } from "./process.js";

const run = promisify(execFile);

// Only what pulls need: content store, metadata, images, leases, diff and the native snapshotter
// (plain directories: no overlay mounts, works inside containers). No CRI, no runtimes, no tasks.
const DISABLED_PLUGINS = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.overlayfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.runtime.v1.linux",
  "io.containerd.runtime.v2.task",
  "io.containerd.monitor.v1.cgroups",
  "io.containerd.service.v1.tasks-service",
  "io.containerd.grpc.v1.tasks",
  "io.containerd.internal.v1.restart",
  "io.containerd.internal.v1.opt",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
];

/** A containerd daemon of the bench (root, state and socket in its own dir); driven with `ctr`. */
export class Containerd {
  private proc?: ManagedProcess;
  readonly root: string;
  readonly address: string;

  private constructor(readonly dir: string) {
    this.root = path.join(dir, "root");
    this.address = path.join(dir, "state", "containerd.sock");
  }

  /** Where the native snapshotter keeps unpacked layers (one directory per snapshot). */
  get snapshotsDir(): string {
    return path.join(this.root, "io.containerd.snapshotter.v1.native", "snapshots");
  }

  static async start(runDir: string, name = "containerd"): Promise<Containerd> {
    const c = new Containerd(path.join(runDir, name));
    mkdirSync(c.dir, { recursive: true });
    const config = path.join(c.dir, "config.toml");
    writeFileSync(config, [
      "version = 2",
      `root = ${JSON.stringify(c.root)}`,
      `state = ${JSON.stringify(path.join(c.dir, "state"))}`,
      `disabled_plugins = ${JSON.stringify(DISABLED_PLUGINS)}`,
      "[grpc]",
      `  address = ${JSON.stringify(c.address)}`,
      "[ttrpc]",
      `  address = ${JSON.stringify(`${c.address}.ttrpc`)}`,
      "",
    ].join("\n"));
    c.proc = new ManagedProcess(name, "containerd", ["--config", config, "--log-level", "info"],
      { logFile: path.join(c.dir, "containerd.log") });
    await c.proc.waitForLine(/containerd successfully booted/);
    return c;
  }

  /**
   * Run `ctr` against this daemon (namespace "ndnreg-test", native snapshotter, whatever the
   * environment says); rejects with ctr's stderr on failure.
   */
  async ctr(args: readonly string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
    requireProgram("ctr");
    try {
      return await run("ctr", ["--address", this.address, "--namespace", "ndnreg-test", ...args], {
        timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, CONTAINERD_SNAPSHOTTER: "native" },
      });
    } catch (err: unknown) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`ctr ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  /** Mount points under this daemon's dir (unpacking mounts layers briefly; none should stay). */
  mounts(): string[] {
    return readFileSync("/proc/self/mountinfo", "utf8").split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m === this.dir || m.startsWith(`${this.dir}/`));
  }

  /** Stop the daemon, then unmount anything it left (so the run dir can be removed). */
  async stop(): Promise<void> {
    await this.proc?.stop();
    for (const m of this.mounts().reverse()) {
      await run("umount", ["-l", m]).catch(() => undefined);
    }
  }
}
