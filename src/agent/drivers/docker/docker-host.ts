import type { DockerOptions } from 'dockerode';
import { DriverError } from '../driver.ts';

/** Where the Docker engine is, as text for messages and as dockerode options. */
export interface DockerEndpoint {
  /** As the user wrote it, normalized: `unix:///var/run/docker.sock`, `tcp://host:2375`. */
  readonly text: string;
  readonly options: DockerOptions;
}

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/**
 * Parses a docker CLI style host: `unix:///path`, `tcp://host:port` (plain HTTP; TLS is not
 * supported yet), `http://` / `https://` URLs, or a bare socket path. Undefined or empty means
 * the `DOCKER_HOST` environment variable, else the default socket.
 */
export function parseDockerHost(host: string | undefined, env: NodeJS.ProcessEnv = process.env): DockerEndpoint {
  const raw = host !== undefined && host !== '' ? host : env['DOCKER_HOST'] || DEFAULT_DOCKER_HOST;
  if (raw.startsWith('/')) return { text: `unix://${raw}`, options: { socketPath: raw } };
  const m = /^(unix|tcp|http|https):\/\/(.*)$/.exec(raw);
  if (m?.[1] === 'unix' && m[2]) return { text: raw, options: { socketPath: m[2] } };
  if (m?.[1] && m[2]) {
    const hp = /^([^:/]+|\[[^\]]+\]):(\d+)\/?$/.exec(m[2]);
    if (hp?.[1] && hp[2]) {
      const protocol = m[1] === 'https' ? 'https' : 'http';
      return { text: raw, options: { host: hp[1].replace(/^\[|\]$/g, ''), port: Number(hp[2]), protocol } };
    }
  }
  throw new DriverError('invalid_spec', `docker host "${raw}": expected unix:///path/to/socket or tcp://host:port`);
}
