import type Docker from 'dockerode';
import type { DockerDriver } from '../agent/drivers/docker/docker-driver.ts';

/** The image the docker driver's tests run (built by scripts/build-images.sh). */
export const TEST_IMAGE = 'flotilla/busybox:test';

/** Why the docker driver's tests cannot run here (no engine, no test image), or undefined. */
export async function engineUnavailable(driver: DockerDriver, docker: Docker): Promise<string | undefined> {
  const fp = await driver.fingerprint();
  if (!fp.available) return fp.reason ?? 'no Docker engine';
  return docker.getImage(TEST_IMAGE).inspect().then(
    () => undefined,
    () => `image ${TEST_IMAGE} is missing: run scripts/build-images.sh`,
  );
}

/**
 * The `skip` option for a docker test suite: skipped with the reason when the engine is
 * unavailable, unless FLOTILLA_REQUIRE_DOCKER=1 (CI), where the suite runs and fails.
 */
export function skipUnlessRequired(reason: string | undefined): string | false {
  return reason === undefined || process.env['FLOTILLA_REQUIRE_DOCKER'] === '1' ? false : `skipped: ${reason}`;
}
