import { netnsUnavailableReason } from './netns.ts';

/**
 * Why the multi-host tests cannot run here (not root, no `ip netns`, no dockerd), or
 * undefined when they can. With `FLOTILLA_REQUIRE_CLUSTER=1` (CI) a missing capability is a
 * failure instead of a skip.
 */
export async function bedSkipReason(): Promise<string | undefined> {
  const reason = await netnsUnavailableReason();
  if (reason === undefined) return undefined;
  if (process.env['FLOTILLA_REQUIRE_CLUSTER'] === '1') throw new Error(`FLOTILLA_REQUIRE_CLUSTER=1 but ${reason}`);
  return `${reason} (set FLOTILLA_REQUIRE_CLUSTER=1 to make this a failure)`;
}
