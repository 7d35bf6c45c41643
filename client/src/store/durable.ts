import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";

/**
 * Flushes a directory's entries (a rename or unlink in it) to disk: without it a crash may
 * forget a rename whose file's bytes were flushed.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A fresh file name under `tmpDir`: nothing else writes there. */
export function tmpPath(tmpDir: string): string {
  return path.join(tmpDir, randomBytes(12).toString("hex"));
}

/**
 * Writes `data` to `file` so that `file` is either absent or whole, also across a crash:
 * written under tmp/, fsynced, renamed into place (same file system), and the directory fsynced.
 */
export async function writeFileDurably(tmpDir: string, file: string, data: Uint8Array): Promise<void> {
  const tmp = tmpPath(tmpDir);
  try {
    const fh = await open(tmp, "wx");
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err: unknown) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}
