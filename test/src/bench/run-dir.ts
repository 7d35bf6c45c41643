import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** A fresh directory for one bench; removed by cleanup() unless KEEP_TEST_DIRS=1. */
export function makeRunDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `ndnreg-${label.replace(/[^a-z0-9]+/gi, "-")}-`));
  return {
    dir,
    cleanup: () => {
      if (process.env["KEEP_TEST_DIRS"] !== "1") {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
