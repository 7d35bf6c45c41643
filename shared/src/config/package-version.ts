import { readFileSync } from "node:fs";

/** The version in a package.json (for --version). */
export function packageVersion(packageJson: URL): string {
  const pkg = JSON.parse(readFileSync(packageJson, "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}
