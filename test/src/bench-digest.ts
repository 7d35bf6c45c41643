/**
 * `pnpm bench:digest`: issue 17's goals alone (the rows `pnpm bench` prints after its table):
 * four repositories sharing one layer (BENCH_SHARED_MB, 100), client CPU with and without a trust
 * anchor (BENCH_CPU_MB, 150; BENCH_CPU_RUNS, 15 pairs) and a 1 MB range at 90% of a large blob
 * (BENCH_BIG_MB, 1000; 0 skips it).
 */
import path from "node:path";

import { anchorCpuGoal, createImage, getBlob, type GoalRow, printGoals, pushImage, rangeGoal, sharedLayerGoal, Stack } from "./bench/index.js";

const sharedMb = Number(process.env["BENCH_SHARED_MB"] ?? 100);
const cpuMb = Number(process.env["BENCH_CPU_MB"] ?? 150);
const cpuRuns = Number(process.env["BENCH_CPU_RUNS"] ?? 15);
const bigMb = Number(process.env["BENCH_BIG_MB"] ?? 1000);

async function main(): Promise<void> {
  const stack = await Stack.start({ label: "bench-digest", csCapacity: Math.ceil(Math.max(sharedMb, cpuMb) * 1e6 * 1.5 / 8000) });
  const goals: GoalRow[] = [];
  try {
    const key = await stack.serverKey();
    await stack.startServer(key.env);
    goals.push(...await sharedLayerGoal(stack, sharedMb));
    if (cpuMb > 0) {
      goals.push(...await anchorCpuGoal(stack, key.certFile, cpuMb, cpuRuns));
    }
    if (bigMb > 0) {
      const big = createImage(path.join(stack.runDir, "big"), { format: "oci", layers: [bigMb * 1e6] });
      await pushImage(big, stack.registry.host, "bench/big:v1", 900_000);
      const plain = await stack.startClient();
      await getBlob(plain, "bench/big", big.layers[0]!.digest); // the blob pulled once, as in `pnpm bench`
      const anchored = await stack.startClient({ args: ["--trust-anchor", key.certFile] });
      goals.push(await rangeGoal(anchored, "bench/big", big.layers[0]!.digest, big.layers[0]!.size));
    }
    printGoals(goals);
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
