import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { deleteNamespace, deleteProbe, namespacesWithPrefix, netNames, pidsIn } from './netns.ts';
import { run } from './proc.ts';
import { waitFor } from './wait.ts';

/**
 * Removes everything a bed with `prefix` and directory `dir` may have left behind — after a
 * clean run it finds nothing; after a crashed one it finds engines, shims, containers,
 * mounts, namespaces, veths and cgroups. Never throws: every step is best effort, and what
 * could not be removed is returned as a list of complaints.
 */
export async function sweep(prefix: string, dir: string): Promise<string[]> {
  const problems: string[] = [];
  const names = netNames(prefix);
  const namespaces = await namespacesWithPrefix(prefix);

  // 1. Engines that still answer remove their own containers (this also unmounts their layers).
  if (existsSync(dir)) {
    for (const entry of safeReaddir(dir)) {
      const socket = join(dir, entry, 'docker', 'docker.sock');
      if (!existsSync(socket)) continue;
      const docker = new Docker({ socketPath: socket, timeout: 5_000 });
      try {
        const list = await docker.listContainers({ all: true });
        await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      } catch {
        // not answering: its processes are killed below
      }
    }
  }

  // 2. Every process in the bed's namespaces (engines, containerd, shims, agents, manager),
  //    in its cgroups (container processes live in their own namespaces) or naming its dir.
  const victims = new Set<number>();
  for (const ns of namespaces) for (const pid of await pidsIn(ns)) victims.add(pid);
  for (const pid of processesMatching(prefix, dir)) victims.add(pid);
  // Exec tasks on networks run in a network namespace of their own, pinned below the bed's dir.
  for (const pid of processesInNamespaces(pinnedNetworkNamespaces(dir))) victims.add(pid);
  victims.delete(process.pid);
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  try {
    await waitFor(() => [...victims].every((pid) => !alive(pid)), 60_000, 'the bed processes to exit', 50);
  } catch (e) {
    problems.push((e as Error).message);
  }

  // 3. Mounts below the bed's directory (overlay layers, container netns bind mounts), deepest first.
  for (const mountPoint of mountsBelow(dir)) {
    const r = await run('umount', ['-l', mountPoint], { allowFail: true });
    if (r.code !== 0) problems.push(`umount ${mountPoint}: ${r.stderr.trim()}`);
  }

  // 4. Namespaces (their veths go with them) and the probe link in the root namespace.
  for (const ns of namespaces) await deleteNamespace(ns);
  await deleteProbe(names);
  const still = await namespacesWithPrefix(prefix);
  if (still.length > 0) problems.push(`network namespaces left: ${still.join(', ')}`);

  // 5. The containers' cgroups (`--cgroup-parent=/<prefix>-<host>`).
  for (const cg of cgroupDirs(prefix)) {
    try {
      removeCgroupTree(cg);
    } catch (e) {
      problems.push(`cgroup ${cg}: ${(e as Error).message}`);
    }
  }

  // 6. The files.
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    problems.push(`rm -rf ${dir}: ${(e as Error).message}`);
  }
  return problems;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    // A zombie still answers signal 0; count it as gone (its parent reaps it).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Pids whose cgroup is below `/<prefix>-…` or whose command line names `dir`. */
function processesMatching(prefix: string, dir: string): number[] {
  const pids: number[] = [];
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cgroup = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cgroup.includes(`:/${prefix}-`) || cmdline.includes(`${dir}/`)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/**
 * The network namespaces pinned (bind-mounted nsfs files) at or below `dir`, as the links
 * `/proc/<pid>/ns/net` read (`net:[4026532…]`): the exec tasks' (`<agent dir>/exec/<task>/netns`).
 */
function pinnedNetworkNamespaces(dir: string): Set<string> {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return new Set();
  }
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const [fields, fsType] = line.split(' - ');
    const parts = (fields ?? '').split(' ');
    const root = parts[3] ?? '';
    const point = (parts[4] ?? '').replace(/\\040/g, ' ');
    if (fsType?.startsWith('nsfs ') && root.startsWith('net:[') && (point === dir || point.startsWith(`${dir}/`))) out.add(root);
  }
  return out;
}

/** Pids whose network namespace is one of `namespaces` (`net:[…]`). */
function processesInNamespaces(namespaces: ReadonlySet<string>): number[] {
  if (namespaces.size === 0) return [];
  const pids: number[] = [];
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (namespaces.has(readlinkSync(`/proc/${entry}/ns/net`))) pids.push(Number(entry));
    } catch {
      // exited meanwhile, or a kernel thread
    }
  }
  return pids;
}

/** Mount points at or below `dir`, deepest first. */
function mountsBelow(dir: string): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const points = text
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Top-level cgroup directories named `<prefix>-…` in every mounted cgroup hierarchy. */
function cgroupDirs(prefix: string): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const roots = text
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => line.split(' ')[4] ?? '')
    .filter(Boolean);
  return roots.flatMap((root) => safeReaddir(root).filter((e) => e.startsWith(`${prefix}-`)).map((e) => join(root, e)));
}

/** rmdir a cgroup and its children, bottom-up (cgroup directories only go with rmdir). */
function removeCgroupTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  }
  rmdirSync(dir);
}
