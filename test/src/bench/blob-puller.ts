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
 * would be. In the bench's own process the GETs paid for its other work: after a round's layers
 * were created and pushed, whichever case ran first faulted ~36 MB of freed memory back in
 * (~9,000 minor faults, +0.2 CPU-s), which decided the at-once against one-after-another
 * comparison by the order of the cases.
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
    // glibc keeps the puller's freed heap: trimmed, it was faulted in again by 10,000-18,000 pages
    // in some rounds of either case, noise that belongs to neither.
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
