import { chmod, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { ApiError } from '../../api/errors.ts';

/** Whether something accepts connections on the unix socket at `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A socket file left by a process that died is removed; one that answers means a manager runs. */
export async function removeStaleSocket(path: string): Promise<void> {
  if (await socketAnswers(path)) throw new ApiError('failed_precondition', `another manager is already listening on ${path}`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Only the owner may connect: file permissions are the unix socket's access control. */
export async function restrictSocket(path: string): Promise<void> {
  await chmod(path, 0o600);
}
