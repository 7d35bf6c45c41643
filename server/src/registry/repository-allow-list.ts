import { isValidRepository } from "@ndnreg/shared/ndn";

/**
 * Repositories the configured registry credentials may read. Blobs read with credentials are
 * published to anyone on the NDN network, so the operator names them explicitly: `org/app` is one
 * repository, `org/*` every repository under `org/`. There is deliberately no catch-all.
 */
export interface RepositoryAllowList {
  readonly entries: readonly string[];
  allows(repository: string): boolean;
}

/** Parse a comma- or space-separated list; every bad entry is reported, none is skipped. */
export function parseRepositoryAllowList(text: string): RepositoryAllowList {
  const entries = text.split(/[\s,]+/).filter(Boolean);
  if (entries.length === 0) {
    throw new Error("no repository named: name the repositories (org/app) or namespaces (org/*) to publish");
  }
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of entries) {
    const namespace = entry.endsWith("/*") ? entry.slice(0, -2) : undefined;
    if (!isValidRepository(namespace ?? entry)) {
      throw new Error(`"${entry}" is neither a repository name (org/app) nor a namespace (org/*)`);
    }
    if (namespace === undefined) {
      exact.add(entry);
    } else {
      prefixes.push(`${namespace}/`);
    }
  }
  return {
    entries,
    allows: (repository) => exact.has(repository) || prefixes.some((p) => repository.startsWith(p)),
  };
}
