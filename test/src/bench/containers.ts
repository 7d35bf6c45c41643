import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

import { ManagedProcess } from "./process.js";

const run = promisify(execFile);

/** The Dockerfiles' base image; `.ci/install-images` makes it locally (Docker Hub cannot be reached). */
const BASE_IMAGE = "docker.io/library/node:24-bookworm-slim";

/** Why images cannot be built or run here, or undefined when buildah, podman and the base image are there. */
export async function containerToolsMissing(): Promise<string | undefined> {
  for (const tool of ["buildah", "podman"]) {
    try {
      await run(tool, ["--version"]);
    } catch {
      return `${tool} is not installed: run \`bash .ci/install-images\` (as root)`;
    }
  }
  try {
    await run("buildah", ["inspect", "--type", "image", BASE_IMAGE]);
  } catch {
    return `the base image ${BASE_IMAGE} is missing: run \`bash .ci/install-images\` (as root)`;
  }
  return undefined;
}

/**
 * `docker build -f <dockerfile> -t <tag> <context>` done by buildah. Docker's image format keeps
 * HEALTHCHECK (OCI's has no such field); `--layers` reuses unchanged steps from earlier builds.
 */
export async function buildImage(context: string, dockerfile: string, tag: string, logFile: string): Promise<void> {
  try {
    const { stdout, stderr } = await run("buildah", ["bud", "--format", "docker", "--layers", "-f", dockerfile, "-t", tag, context],
      { cwd: context, timeout: 900_000, maxBuffer: 64 << 20 });
    writeFileSync(logFile, stdout + stderr);
  } catch (err: unknown) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    writeFileSync(logFile, `${e.stdout ?? ""}${e.stderr ?? ""}`);
    throw new Error(`buildah bud -f ${dockerfile} failed (log: ${logFile}): ${e.stderr?.trim().split("\n").slice(-5).join("\n") || e.message}`, { cause: err });
  }
}

/**
 * Resource limits within this host's: as root, podman asks for more open files and processes than
 * a root without CAP_SYS_RESOURCE (as in some sandboxes) may set, and runc then fails to start.
 */
function hostLimits(): string[] {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const hard = (name: string, cap: number) => {
    const v = new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, "m").exec(limits)?.[1];
    return Math.min(v === undefined || v === "unlimited" ? cap : Number(v), cap);
  };
  const files = hard("Max open files", 65_536);
  const procs = hard("Max processes", 4096);
  return ["--ulimit", `nofile=${files}:${files}`, "--ulimit", `nproc=${procs}:${procs}`];
}

export interface ContainerOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** host path -> container path */
  readonly mounts?: Readonly<Record<string, string>>;
  /** Arguments after the image (the ENTRYPOINT's arguments). */
  readonly args?: readonly string[];
  readonly logFile: string;
}

/** A container on the host's network, run by podman in the foreground (its output is the process's). */
export class Container {
  private constructor(readonly name: string, readonly proc: ManagedProcess) {}

  static run(name: string, image: string, opts: ContainerOptions): Container {
    const args = ["run", "--rm", "--name", name, "--network", "host", ...hostLimits(),
      ...Object.entries(opts.mounts ?? {}).flatMap(([host, inside]) => ["-v", `${host}:${inside}`]),
      ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      image, ...(opts.args ?? [])];
    return new Container(name, new ManagedProcess(name, "podman", args, { logFile: opts.logFile }));
  }

  /** Host pid of the container's first process (its ENTRYPOINT). */
  async pid(): Promise<number> {
    const { stdout } = await run("podman", ["inspect", "--format", "{{.State.Pid}}", this.name]);
    return Number(stdout.trim());
  }

  /** A file inside the running container. */
  async rootPath(file: string): Promise<string> {
    return path.join(`/proc/${await this.pid()}/root`, file);
  }

  /** `podman healthcheck run`: the image's HEALTHCHECK, once, now. */
  async healthcheck(): Promise<{ healthy: boolean; output: string }> {
    try {
      const { stdout, stderr } = await run("podman", ["healthcheck", "run", this.name], { timeout: 30_000 });
      return { healthy: true, output: stdout + stderr };
    } catch (err: unknown) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      return { healthy: false, output: `${e.stdout ?? ""}${e.stderr ?? ""}` || e.message };
    }
  }

  async stop(): Promise<void> {
    await run("podman", ["stop", "--time", "5", this.name]).catch(() => undefined);
    await this.proc.stop();
    await run("podman", ["rm", "--force", "--ignore", this.name]).catch(() => undefined);
  }
}

/** The image's configured user (`USER` in its Dockerfile). */
export async function imageUser(image: string): Promise<string> {
  const { stdout } = await run("podman", ["image", "inspect", "--format", "{{.Config.User}}", image]);
  return stdout.trim();
}
