import { readFile } from 'node:fs/promises';
import { DriverError } from '../driver.ts';

/** A resolved `user` spec: the ids a process runs as, and its home when known. */
export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  readonly home?: string;
}

interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/**
 * Resolves a container `user` spec the way Docker does: `name`, `uid`, `name:group`,
 * `uid:gid` (either side a name or a number). A name must exist in `passwd` (`group` for
 * groups); a numeric uid not in `passwd` runs with gid 0. Pure: takes the files' text.
 */
export function resolveUser(spec: string, passwdText: string, groupText: string): ResolvedUser {
  const [userPart = '', groupPart] = spec.split(':', 2);
  if (userPart === '') throw invalid(spec, 'the user part is empty');
  const passwd = parsePasswd(passwdText);
  const entry = /^\d+$/.test(userPart)
    ? passwd.find((e) => e.uid === Number(userPart))
    : passwd.find((e) => e.name === userPart);
  if (!entry && !/^\d+$/.test(userPart)) throw invalid(spec, `no user "${userPart}" in /etc/passwd`);
  const uid = entry?.uid ?? Number(userPart);
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined) {
    if (groupPart === '') throw invalid(spec, 'the group part is empty');
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = parseGroup(groupText).find((e) => e.name === groupPart);
      if (!g) throw invalid(spec, `no group "${groupPart}" in /etc/group`);
      gid = g.gid;
    }
  }
  return entry ? { uid, gid, home: entry.home } : { uid, gid };
}

/** Reads /etc/passwd and /etc/group (missing files count as empty) and resolves `spec`. */
export async function resolveUserOnHost(spec: string, etcDir = '/etc'): Promise<ResolvedUser> {
  const read = (f: string): Promise<string> => readFile(`${etcDir}/${f}`, 'utf8').catch(() => '');
  const [passwd, group] = await Promise.all([read('passwd'), read('group')]);
  return resolveUser(spec, passwd, group);
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] ?? '', uid, gid, home: f[5] ?? '/' });
  }
  return out;
}

function parseGroup(text: string): Array<{ name: string; gid: number }> {
  const out: Array<{ name: string; gid: number }> = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (Number.isInteger(gid)) out.push({ name: f[0] ?? '', gid });
  }
  return out;
}

function invalid(spec: string, why: string): DriverError {
  return new DriverError('invalid_spec', `user "${spec}": ${why} (expected name, uid, name:group or uid:gid)`);
}
