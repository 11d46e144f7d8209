import { Option, type Command } from 'commander';
import { numberOrText, parseBytes, parseCpus, parseDuration, UsageError } from './parse.ts';

/**
 * Flags that `service create` and `service update` share, with docker's names: the health
 * check (`--health-*`, `--no-healthcheck`) and the rollout settings (`--update-*`,
 * `--rollback-*`). Each group has one function that adds its options to a command and one
 * pure function that turns the parsed flags into spec fields.
 */

/** The options `addTaskOptions` adds, as commander hands them over. */
export interface TaskFlags {
  limitCpu?: string;
  limitMemory?: string;
  reserveCpu?: string;
  reserveMemory?: string;
  restartCondition?: string;
  restartDelay?: string;
  restartMaxAttempts?: string;
  restartWindow?: string;
  stopSignal?: string;
  stopGracePeriod?: string;
  workdir?: string;
  user?: string;
  maxReplicasPerNode?: string;
  /** Docker's spelling of `--max-replicas-per-node`. */
  replicasMaxPerNode?: string;
}

/** The parts of a task template the task options write into (plain records, edited in place). */
export interface TaskParts {
  readonly container: Record<string, unknown>;
  readonly limits: Record<string, unknown>;
  readonly reservations: Record<string, unknown>;
  readonly restartPolicy: Record<string, unknown>;
  readonly placement: Record<string, unknown>;
}

/**
 * Writes the task options given on the command line into `parts`: `service create` passes
 * empty records, `service update` the current spec's. Options not given leave fields alone.
 */
export function applyTaskFlags(flags: TaskFlags, parts: TaskParts): void {
  const { container, limits, reservations, restartPolicy, placement } = parts;
  if (flags.workdir !== undefined) container['workdir'] = flags.workdir;
  if (flags.user !== undefined) container['user'] = flags.user;
  if (flags.stopSignal !== undefined) container['stopSignal'] = flags.stopSignal;
  if (flags.stopGracePeriod !== undefined) container['stopGracePeriodMs'] = parseDuration(flags.stopGracePeriod, '--stop-grace-period');
  if (flags.limitCpu !== undefined) limits['nanoCpus'] = parseCpus(flags.limitCpu, '--limit-cpu');
  if (flags.limitMemory !== undefined) limits['memoryBytes'] = parseBytes(flags.limitMemory, '--limit-memory');
  if (flags.reserveCpu !== undefined) reservations['nanoCpus'] = parseCpus(flags.reserveCpu, '--reserve-cpu');
  if (flags.reserveMemory !== undefined) reservations['memoryBytes'] = parseBytes(flags.reserveMemory, '--reserve-memory');
  if (flags.restartCondition !== undefined) restartPolicy['condition'] = flags.restartCondition;
  if (flags.restartDelay !== undefined) restartPolicy['delayMs'] = parseDuration(flags.restartDelay, '--restart-delay');
  if (flags.restartMaxAttempts !== undefined) restartPolicy['maxAttempts'] = numberOrText(flags.restartMaxAttempts);
  if (flags.restartWindow !== undefined) restartPolicy['windowMs'] = parseDuration(flags.restartWindow, '--restart-window');
  const maxPerNode = flags.maxReplicasPerNode ?? flags.replicasMaxPerNode;
  if (maxPerNode !== undefined) placement['maxReplicasPerNode'] = numberOrText(maxPerNode);
}

/** `--health-*` flags as commander hands them over; `healthcheck` is false after `--no-healthcheck`. */
export interface HealthFlags {
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  healthcheck?: boolean;
}

/** `--update-*` and `--rollback-*` flags as commander hands them over. */
export interface RolloutFlags {
  updateParallelism?: string;
  updateDelay?: string;
  updateOrder?: string;
  updateFailureAction?: string;
  updateMonitor?: string;
  updateMaxFailureRatio?: string;
  rollbackParallelism?: string;
  rollbackDelay?: string;
  rollbackOrder?: string;
  rollbackFailureAction?: string;
  rollbackMonitor?: string;
  rollbackMaxFailureRatio?: string;
}

/** Adds `--health-cmd`, `--health-interval`, `--health-timeout`, `--health-retries`, `--health-start-period`, `--no-healthcheck`. */
export function addHealthOptions(cmd: Command): Command {
  return cmd
    .option('--health-cmd <command>', 'Command to run to check health (run by the shell: CMD-SHELL)')
    .option('--health-interval <duration>', 'Time between running the check (ms|s|m|h)')
    .option('--health-timeout <duration>', 'Maximum time to allow one check to run (ms|s|m|h)')
    .option('--health-retries <n>', 'Consecutive failures needed to report unhealthy')
    .option('--health-start-period <duration>', 'Start period for the task to initialize before failures count (ms|s|m|h)')
    .option('--no-healthcheck', 'Disable any container-specified HEALTHCHECK');
}

/**
 * Adds the options `service create` and `service update` share as they are: resources, restart
 * policy, stop behaviour, working directory, user, tasks per node.
 */
export function addTaskOptions(cmd: Command): Command {
  return cmd
    .option('--limit-cpu <cpus>', 'Limit CPUs')
    .option('--limit-memory <bytes>', 'Limit memory')
    .option('--reserve-cpu <cpus>', 'Reserve CPUs')
    .option('--reserve-memory <bytes>', 'Reserve memory')
    .addOption(new Option('--restart-condition <condition>', 'Restart when condition is met').choices(['none', 'on-failure', 'any']))
    .option('--restart-delay <duration>', 'Delay between restart attempts (ns|us|ms|s|m|h)')
    .option('--restart-max-attempts <n>', 'Maximum number of restarts before giving up')
    .option('--restart-window <duration>', 'Window used to evaluate the restart policy')
    .option('--stop-signal <signal>', 'Signal to stop the container')
    .option('--stop-grace-period <duration>', 'Time to wait before force killing a container')
    .option('-w, --workdir <dir>', 'Working directory inside the container')
    .option('-u, --user <user>', 'Username or UID')
    .option('--max-replicas-per-node <n>', 'Maximum number of tasks per node (0 = unlimited)')
    .option('--replicas-max-per-node <n>', 'The same, spelt as docker spells it');
}

/** Adds the `--update-*` and `--rollback-*` options. */
export function addRolloutOptions(cmd: Command): Command {
  for (const which of ['update', 'rollback'] as const) {
    const actions = which === 'update' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'];
    cmd
      .option(`--${which}-parallelism <n>`, `Maximum number of tasks ${which}d simultaneously (0 to ${which} all at once)`)
      .option(`--${which}-delay <duration>`, `Delay between ${which}s (ns|us|ms|s|m|h)`)
      .addOption(new Option(`--${which}-order <order>`, `${which === 'update' ? 'Update' : 'Rollback'} order`).choices(['start-first', 'stop-first']))
      .addOption(new Option(`--${which}-failure-action <action>`, `Action on ${which} failure`).choices(actions))
      .option(`--${which}-monitor <duration>`, `Duration after each task ${which} to monitor for failure (ns|us|ms|s|m|h)`)
      .option(`--${which}-max-failure-ratio <ratio>`, `Failure rate to tolerate during an ${which} (0 to 1)`);
  }
  return cmd;
}

/** A decimal number as a number, anything else as given (for the server to reject with its message). */
export function decimalOrText(text: string): number | string {
  return /^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text;
}

/**
 * The new `container.healthcheck` from the flags, merged onto `current` (the service's check,
 * for `update`); `undefined` when no health flag was given. `--health-cmd` replaces the probe
 * with `["CMD-SHELL", text]` (an empty text means the image's own check again: the field is
 * dropped, returned as `null`); `--no-healthcheck` gives `["NONE"]`.
 */
export function healthcheckFromFlags(flags: HealthFlags, current?: Record<string, unknown>): Record<string, unknown> | null | undefined {
  const timing: Record<string, number | string> = {};
  if (flags.healthInterval !== undefined) timing['intervalMs'] = parseDuration(flags.healthInterval, '--health-interval');
  if (flags.healthTimeout !== undefined) timing['timeoutMs'] = parseDuration(flags.healthTimeout, '--health-timeout');
  if (flags.healthRetries !== undefined) timing['retries'] = numberOrText(flags.healthRetries);
  if (flags.healthStartPeriod !== undefined) timing['startPeriodMs'] = parseDuration(flags.healthStartPeriod, '--health-start-period');
  const timed = Object.keys(timing).length > 0;
  if (flags.healthcheck === false) {
    if (flags.healthCmd !== undefined || timed) throw new UsageError('--no-healthcheck conflicts with --health-* options');
    return { test: ['NONE'] };
  }
  if (flags.healthCmd === undefined && !timed) return undefined;
  if (flags.healthCmd !== undefined && flags.healthCmd.trim() === '') {
    if (timed) throw new UsageError('an empty --health-cmd removes the health check: it cannot take other --health-* options');
    return null;
  }
  const base: Record<string, unknown> = flags.healthCmd !== undefined ? { test: ['CMD-SHELL', flags.healthCmd] } : probeOf(current);
  if (Object.keys(base).length === 0 || isNone(base)) {
    throw new UsageError('--health-interval, --health-timeout, --health-retries and --health-start-period need --health-cmd: the service has no health check to adjust');
  }
  const keptTiming = current && !isNone(current) ? pick(current, ['intervalMs', 'timeoutMs', 'retries', 'startPeriodMs']) : {};
  return { ...base, ...keptTiming, ...timing };
}

function probeOf(current: Record<string, unknown> | undefined): Record<string, unknown> {
  return current ? pick(current, ['test', 'http', 'tcp']) : {};
}

function isNone(hc: Record<string, unknown>): boolean {
  const test = hc['test'];
  return Array.isArray(test) && test[0] === 'NONE';
}

function pick(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * The `updateConfig` or `rollbackConfig` fields the flags set, merged onto `current`;
 * `undefined` when none of that group's flags was given.
 */
export function rolloutFromFlags(
  flags: RolloutFlags,
  which: 'update' | 'rollback',
  current: Record<string, unknown> = {},
): Record<string, unknown> | undefined {
  const get = (name: string): string | undefined => (flags as Record<string, string | undefined>)[`${which}${name}`];
  const out: Record<string, unknown> = {};
  const parallelism = get('Parallelism');
  const delay = get('Delay');
  const order = get('Order');
  const failureAction = get('FailureAction');
  const monitor = get('Monitor');
  const ratio = get('MaxFailureRatio');
  if (parallelism !== undefined) out['parallelism'] = numberOrText(parallelism);
  if (delay !== undefined) out['delayMs'] = parseDuration(delay, `--${which}-delay`);
  if (order !== undefined) out['order'] = order;
  if (failureAction !== undefined) out['failureAction'] = failureAction;
  if (monitor !== undefined) out['monitorMs'] = parseDuration(monitor, `--${which}-monitor`);
  if (ratio !== undefined) out['maxFailureRatio'] = decimalOrText(ratio);
  if (Object.keys(out).length === 0) return undefined;
  return { ...current, ...out };
}

/**
 * Splits a command line into words as a POSIX shell would for plain text: whitespace
 * separates, single and double quotes group, a backslash escapes (docker's `--args`).
 */
export function splitWords(text: string, flag: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] ?? '';
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1] ?? '')) word += text[++i];
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new UsageError(`invalid ${flag} "${text}": unterminated ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

/** A network attachment as sent to the API (`taskTemplate.networks[]`). */
export interface NetworkAttachmentFlag {
  target: string;
  aliases?: string[];
}

/**
 * `--network` / `--network-add`: a network's name (or id), or docker's long syntax
 * `name=NAME,alias=A,alias=B` (`target=` is taken for `name=`).
 */
export function parseNetworkFlag(text: string, flag: string): NetworkAttachmentFlag {
  const t = text.trim();
  if (!t.includes('=') && !t.includes(',')) {
    if (t === '') throw new UsageError(`invalid ${flag} "${text}": expected a network name or name=NAME,alias=ALIAS`);
    return { target: t };
  }
  let target: string | undefined;
  const aliases: string[] = [];
  for (const part of t.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (key !== 'name' && key !== 'target' && key !== 'alias') {
      throw new UsageError(`invalid ${flag} "${text}": unknown field "${key}" (expected name=NAME and alias=ALIAS)`);
    }
    if (value === '') throw new UsageError(`invalid ${flag} "${text}": ${key}= needs a value`);
    if (key === 'alias') aliases.push(value);
    else target = value;
  }
  if (target === undefined) throw new UsageError(`invalid ${flag} "${text}": name= is required`);
  return aliases.length > 0 ? { target, aliases } : { target };
}

/** Adds `--endpoint-mode vip|dnsrr` (create and update). */
export function addEndpointModeOption(cmd: Command): Command {
  return cmd.addOption(new Option('--endpoint-mode <mode>', 'Endpoint mode: vip (one virtual IP) or dnsrr (DNS round robin over the task IPs)').choices(['vip', 'dnsrr']));
}
