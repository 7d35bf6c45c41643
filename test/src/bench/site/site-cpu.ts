import { readFileSync } from "node:fs";

import { cpuSeconds } from "../proc-stats.js";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Processes by role; each role's CPU is the sum over its pids (a pid gone since the first sample counts 0). */
export type CpuRoles = Readonly<Record<string, readonly number[]>>;

export interface CpuSample {
  readonly at: number;
  readonly roles: Readonly<Record<string, number>>;
  /** Whole machine: CPU-seconds busy and idle (all cores) since boot. */
  readonly busy: number;
  readonly idle: number;
}

/** Where the CPU went between two samples: CPU-seconds per role, the machine's busy share, the cores. */
export interface CpuSplit {
  readonly seconds: number;
  readonly roles: Readonly<Record<string, number>>;
  /** Busy CPU-seconds not in any role: other jobs on the machine. */
  readonly other: number;
  /** Busy share of all cores over the interval, 0..1. */
  readonly busyShare: number;
  readonly cores: number;
}

function machine(): { busy: number; idle: number; cores: number } {
  const lines = readFileSync("/proc/stat", "utf8").split("\n");
  const f = lines[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!; // idle + iowait
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is inside user)
  return { busy: (total - idle) / TICKS_PER_SECOND, idle: idle / TICKS_PER_SECOND, cores: lines.filter((l) => /^cpu\d/.test(l)).length };
}

/**
 * This process and its children reaped so far (utime, stime, cutime, cstime): skopeo, which the
 * bench runs and waits for, counts here once it has exited.
 */
function selfAndReaped(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND;
}

/** Role "skopeo and bench": the bench process and the children it reaped (skopeo, tc, ndnd's CLI). */
const SELF_ROLE = "skopeo and bench";

export function sampleCpu(roles: CpuRoles): CpuSample {
  const m = machine();
  const sum = (pids: readonly number[]) => pids.reduce((n, pid) => {
    try {
      return n + cpuSeconds(pid);
    } catch {
      return n;
    }
  }, 0);
  const byRole = Object.fromEntries(Object.entries(roles).map(([k, pids]) => [k, sum(pids)]));
  return { at: performance.now(), roles: { ...byRole, [SELF_ROLE]: selfAndReaped() }, busy: m.busy, idle: m.idle };
}

export function cpuBetween(a: CpuSample, b: CpuSample): CpuSplit {
  const roles = Object.fromEntries(Object.keys(b.roles).map((k) => [k, b.roles[k]! - (a.roles[k] ?? 0)]));
  const busy = b.busy - a.busy;
  const idle = b.idle - a.idle;
  const inRoles = Object.values(roles).reduce((n, v) => n + v, 0);
  return { seconds: (b.at - a.at) / 1000, roles, other: Math.max(0, busy - inRoles), busyShare: busy / Math.max(busy + idle, 1e-9), cores: machine().cores };
}

/** "pulling ndnd 0.61, ... ; machine 97% busy of 2 cores" (CPU-seconds over the interval). */
export function describeCpu(s: CpuSplit): string {
  const parts = Object.entries(s.roles).map(([k, v]) => `${k} ${v.toFixed(2)}`);
  return `CPU-s: ${parts.join(", ")}, other ${s.other.toFixed(2)}; machine ${(s.busyShare * 100).toFixed(0)}% busy of ${s.cores} cores over ${s.seconds.toFixed(2)} s`;
}
