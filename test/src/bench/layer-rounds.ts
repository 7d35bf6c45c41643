import { execFileSync } from "node:child_process";
import path from "node:path";

import type { BlobResult } from "./blob-get.js";
import type { BlobPuller } from "./blob-puller.js";
import { createImage, pushImage, type TestImage } from "./images.js";
import type { ClientHandle, Stack } from "./stack.js";

const MB = 1e6;

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Seven new layers of `layerMb` MB pushed as `repository`, the seventh fetched through `client` to
 * warm the path up (by `puller`): layers 0-2 are then for one after another, 3-5 for at once, all
 * never fetched.
 */
export async function pushLayerRound(stack: Stack, puller: BlobPuller, client: ClientHandle, repository: string, layerMb: number): Promise<TestImage> {
  const image = createImage(path.join(stack.runDir, repository.replaceAll("/", "-")), { format: "oci", layers: Array(7).fill(layerMb * MB) });
  await pushImage(image, stack.registry.host, `${repository}:v1`);
  await puller.get(client.url, repository, [image.layers[6]!.digest], false);
  // The push left ~2x the layers' bytes dirty in the page cache (the image files and the
  // registry's copy); the kernel would write them back during some later measurement.
  execFileSync("sync");
  return image;
}

/** Round i's order of the two cases: alternating, so neither always inherits the other's state. */
export function roundOrder(i: number): boolean[] {
  return i % 2 === 0 ? [false, true] : [true, false];
}

/** GET the round's three layers for a case, at once or one after another (each verified). */
export function getThreeLayers(puller: BlobPuller, client: ClientHandle, repository: string, image: TestImage, parallel: boolean): Promise<BlobResult[]> {
  const layers = image.layers.slice(parallel ? 3 : 0, parallel ? 6 : 3);
  return puller.get(client.url, repository, layers.map((l) => l.digest), parallel);
}
