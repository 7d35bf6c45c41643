import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";

import { findProgram, INSTALL_HINT, ManagedProcess } from "./process.js";

/** Built by .ci/install-conformance (OCI distribution-spec conformance suite, pinned version). */
const CONFORMANCE_BIN = "oci-conformance";

/** One leaf test of the suite, as its junit.xml reports it. */
export interface ConformanceCase {
  /** Path below the suite's root, e.g. "sha256 blobs/range requests/range 500-1499". */
  readonly name: string;
  readonly status: "passed" | "failure" | "error" | "skipped";
  /** The errors the suite recorded (empty when it passed). */
  readonly message: string;
}

export interface ConformanceRun {
  readonly cases: readonly ConformanceCase[];
  readonly resultsDir: string;
}

/** Absolute path of the suite's binary on PATH; throws (never skips) when it is not installed. */
export function findConformanceBinary(): string {
  const file = findProgram(CONFORMANCE_BIN);
  if (file === undefined) {
    throw new Error(`${CONFORMANCE_BIN} is not installed (not on PATH): ${INSTALL_HINT}`);
  }
  return path.resolve(file);
}

/**
 * Run the suite against `host` (plain HTTP) with `env` (its OCI_* settings); wait at most
 * `timeoutMs`. Results (junit.xml, report.html, results.yaml, the console log) go to
 * `resultsDir`. Throws only when the suite did not produce results; test failures are data.
 */
export async function runConformance(bin: string, host: string, resultsDir: string, env: Record<string, string>, timeoutMs: number): Promise<ConformanceRun> {
  mkdirSync(resultsDir, { recursive: true });
  // No OCI_* from the caller's environment, and a cwd without an oci-conformance.yaml: the
  // settings are exactly these.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OCI_")));
  const proc = new ManagedProcess(`conformance ${path.basename(resultsDir)}`, bin, [], {
    cwd: resultsDir,
    logFile: path.join(resultsDir, "console.log"),
    env: { ...clean, OCI_REGISTRY: host, OCI_TLS: "disabled", OCI_RESULTS_DIR: resultsDir, ...env },
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => { timer = setTimeout(() => resolve("timeout"), timeoutMs); });
  const code = await Promise.race([proc.exited, timedOut]);
  clearTimeout(timer);
  if (code === "timeout") {
    await proc.stop("SIGKILL");
    throw new Error(`conformance suite against ${host} still running after ${timeoutMs} ms; last output:\n${proc.tail()}`);
  }
  // The suite exits 1 when a test fails, but 0 when it could not even load its configuration:
  // junit.xml is the proof that it ran.
  const junit = path.join(resultsDir, "junit.xml");
  if (!existsSync(junit)) {
    throw new Error(`conformance suite against ${host} exited ${code} without ${junit}; last output:\n${proc.tail()}`);
  }
  return { cases: parseJunit(readFileSync(junit, "utf8")), resultsDir };
}

const ROOT = "OCI Conformance Test/";

/** The <testcase> elements of the suite's junit.xml (Go's encoding/xml output; no CDATA used). */
function parseJunit(xml: string): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const m of xml.matchAll(/<testcase\s([^>]*)>([\s\S]*?)<\/testcase>/g)) {
    const attrs = new Map([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((a) => [a[1]!, unescapeXml(a[2]!)]));
    const name = attrs.get("name") ?? "";
    const status = attrs.get("status");
    if (status !== "passed" && status !== "failure" && status !== "error" && status !== "skipped") {
      throw new Error(`junit.xml: test ${name} has status ${status}`);
    }
    const out = /<system-out>([\s\S]*?)<\/system-out>/.exec(m[2]!);
    cases.push({ name: name.startsWith(ROOT) ? name.slice(ROOT.length) : name, status, message: out ? unescapeXml(out[1]!) : "" });
  }
  if (cases.length === 0) {
    throw new Error("junit.xml holds no test cases");
  }
  return cases;
}

function unescapeXml(s: string): string {
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" };
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) =>
    e.startsWith("#x") || e.startsWith("#X") ? String.fromCodePoint(parseInt(e.slice(2), 16))
    : e.startsWith("#") ? String.fromCodePoint(Number(e.slice(1))) : named[e]!);
}

/** Counts per status. */
export function tally(cases: readonly ConformanceCase[]): Record<ConformanceCase["status"], number> {
  const t = { passed: 0, failure: 0, error: 0, skipped: 0 };
  for (const c of cases) {
    ++t[c.status];
  }
  return t;
}

export function isFailure(c: ConformanceCase): boolean {
  return c.status === "failure" || c.status === "error";
}
