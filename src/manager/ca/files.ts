import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CaError } from './errors.ts';

/**
 * The CA's files in the manager's data dir, every one mode 0600 in a 0700 folder:
 * `ca/ca.pem` (the root certificate, for other tools), and the admin credential
 * `admin/{key.pem, cert.pem, ca.pem, token}` with `admin/context.json` for `flotilla context
 * import`. The CA's key is not a file: it is wrapped in the store. Older versions kept it in
 * `ca/ca.key`; that file is read once, to move the key into the store, and removed.
 */

/** The admin credential as files hold it. */
export interface AdminCredential {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
  readonly token: string;
}

/** `admin/context.json`: everything another host needs to reach this cluster as admin. */
export interface AdminContext extends AdminCredential {
  /** `https://ADVERTISE:PORT` */
  readonly host: string;
}

export function caDir(dataDir: string): string {
  return join(dataDir, 'ca');
}

export function adminDir(dataDir: string): string {
  return join(dataDir, 'admin');
}

/**
 * An older version's root CA, certificate and key, or undefined when `ca/ca.key` is not there
 * (a new data dir, or one whose key already moved into the store).
 */
export async function readLegacyCaFiles(dataDir: string): Promise<{ cert: string; key: string } | undefined> {
  const dir = caDir(dataDir);
  const key = await readOptional(legacyKeyPath(dataDir));
  if (key === undefined) return undefined;
  const cert = await readOptional(join(dir, 'ca.pem'));
  if (cert === undefined) throw new CaError('invalid_ca', `the cluster CA in ${dir} is incomplete: ca.key is there without ca.pem`);
  return { cert, key };
}

/** Where older versions kept the CA's key in plain text. */
export function legacyKeyPath(dataDir: string): string {
  return join(caDir(dataDir), 'ca.key');
}

/** The root certificate (public) as `ca/ca.pem`. */
export async function writeCaCertificate(dataDir: string, cert: string): Promise<void> {
  await writeFiles(caDir(dataDir), [['ca.pem', cert]]);
}

/** Removes `ca/ca.key` once its key is in the store. */
export async function removeLegacyCaKey(dataDir: string): Promise<void> {
  const path = legacyKeyPath(dataDir);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw new CaError('io', `cannot remove ${path} after moving its key into the store: ${err.message}`, { cause: err });
  });
}

/** The admin credential files, or undefined when any is missing. */
export async function readAdminFiles(dataDir: string): Promise<AdminCredential | undefined> {
  const dir = adminDir(dataDir);
  const [key, cert, ca, token] = await Promise.all(['key.pem', 'cert.pem', 'ca.pem', 'token'].map((f) => readOptional(join(dir, f))));
  if (key === undefined || cert === undefined || ca === undefined || token === undefined) return undefined;
  return { key, cert, ca, token: token.trim() };
}

export async function writeAdminFiles(dataDir: string, context: AdminContext): Promise<void> {
  const { host, key, cert, ca, token } = context;
  await writeFiles(adminDir(dataDir), [
    ['key.pem', key],
    ['cert.pem', cert],
    ['ca.pem', ca],
    ['token', `${token}\n`],
    ['context.json', `${JSON.stringify({ host, ca, cert, key, token }, null, 2)}\n`],
  ]);
}

/** Each file staged then renamed into place, so a crash never leaves a torn one. */
async function writeFiles(dir: string, files: ReadonlyArray<readonly [string, string]>): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const [name, text] of files) await writeFile(join(dir, `${name}.tmp`), text, { mode: 0o600 });
    for (const [name] of files) await rename(join(dir, `${name}.tmp`), join(dir, name));
  } catch (err) {
    throw new CaError('io', `cannot write ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CaError('io', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}
