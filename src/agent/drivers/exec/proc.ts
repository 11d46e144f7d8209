import { readFile } from 'node:fs/promises';

/** What /proc/<pid>/stat says about a process that the exec driver cares about. */
export interface ProcStat {
  /** One-letter state: R, S, D, Z (zombie), T, … */
  readonly state: string;
  readonly pgrp: number;
  /** Start time in clock ticks since boot: with the pid, identifies a process across pid reuse. */
  readonly startTime: number;
}

/** Parses the text of /proc/<pid>/stat; undefined if it is malformed. */
export function parseProcStat(text: string): ProcStat | undefined {
  // The command name (field 2) is in parentheses and may contain spaces and ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state); field N is f[N - 3].
  const state = f[0];
  const pgrp = Number(f[2]);
  const startTime = Number(f[19]);
  if (!state || !Number.isInteger(pgrp) || !Number.isInteger(startTime)) return undefined;
  return { state, pgrp, startTime };
}

/** The process's stat, or undefined when there is no such process. */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Whether the process `pid` that started at `startTime` still runs: it exists, is not a
 * zombie, and is the same process (not a new one that reused the pid).
 */
export async function isAlive(pid: number, startTime: number): Promise<boolean> {
  const st = await readProcStat(pid);
  return st !== undefined && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}
