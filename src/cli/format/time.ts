/**
 * A duration the way docker says it ("Less than a second", "About a minute", "3 hours",
 * "2 weeks"), with the same thresholds as docker's `units.HumanDuration`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** "2 minutes ago" for an ISO time, relative to `now` (ms since the epoch). */
export function ago(iso: string | undefined, now: number): string {
  if (iso === undefined) return '';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  return `${humanDuration(Math.max(0, now - t))} ago`;
}
