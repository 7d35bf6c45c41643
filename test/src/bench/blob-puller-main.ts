/** The BlobPuller's process: runs each PullRequest it is sent and replies with the results. */
import { getBlob } from "./blob-get.js";
import type { PullReply, PullRequest } from "./blob-puller.js";

async function pull(req: PullRequest): Promise<PullReply> {
  try {
    const client = { url: req.baseUrl };
    if (req.parallel) {
      return { id: req.id, results: await Promise.all(req.digests.map((d) => getBlob(client, req.repository, d))) };
    }
    const results = [];
    for (const d of req.digests) {
      results.push(await getBlob(client, req.repository, d));
    }
    return { id: req.id, results };
  } catch (err: unknown) {
    return { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
}

process.on("message", (req: PullRequest) => {
  void pull(req).then((reply) => process.send!(reply));
});
process.on("disconnect", () => process.exit(0));
