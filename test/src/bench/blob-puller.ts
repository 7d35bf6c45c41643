import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

import type { BlobResult } from "./blob-get.js";
import { inNetns } from "./process.js";

const MAIN = fileURLToPath(new URL("./blob-puller-main.js", import.meta.url));

export interface PullRequest {
  readonly id: number;
  readonly baseUrl: string;
  readonly repository: string;
  readonly digests: readonly string[];
  readonly parallel: boolean;
}

export type PullReply = { readonly id: number; readonly results: BlobResult[] } | { readonly id: number; readonly error: string };

/**
 * The bench's image client for blob GETs: a separate long-lived process, as docker or skopeo
 * would be, so the GETs do not pay for the bench's own work (creating and pushing layers), which
 * would favour whichever case runs second (docs/performance.md, "The bench's own reader").
 */
export class BlobPuller {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: BlobResult[]) => void; reject: (e: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (reply: PullReply) => {
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if ("error" in reply) {
        w?.reject(new Error(reply.error));
      } else {
        w?.resolve(reply.results);
      }
    });
    child.once("exit", (code) => {
      for (const w of this.waiting.values()) {
        w.reject(new Error(`blob puller exited (${code})`));
      }
      this.waiting.clear();
    });
  }

  /** `netns`: run it in that network namespace (the clients it asks must be reachable from there). */
  static start(opts: { netns?: string } = {}): BlobPuller {
    // glibc keeps the puller's freed heap: faulting it in again is noise that belongs to neither case.
    const env = { ...process.env, GLIBC_TUNABLES: "glibc.malloc.trim_threshold=67108864" };
    // spawn, not fork: `ip netns exec` must come first; node still finds the IPC channel that
    // spawn() passes on.
    const [file, argv] = inNetns(opts.netns, process.execPath, [MAIN]);
    return new BlobPuller(spawn(file, argv, { stdio: ["ignore", "inherit", "inherit", "ipc"], env, serialization: "json" }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** GET each blob through `baseUrl` (hashed and checked), at once or one after another. */
  get(baseUrl: string, repository: string, digests: readonly string[], parallel: boolean): Promise<BlobResult[]> {
    const id = ++this.nextId;
    const request: PullRequest = { id, baseUrl, repository, digests, parallel };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send(request);
    });
  }

  stop(): void {
    this.child.kill();
  }
}
