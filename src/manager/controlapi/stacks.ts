import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { isBuiltImageRef, type StackBuild } from '../../api/build.ts';
import { ApiError, type ErrorDetail } from '../../api/errors.ts';
import { NoContent } from '../../api/meta.ts';
import type { StoredSecret } from '../../api/secret.ts';
import {
  Stack,
  StackDeployQuery,
  StackDeployResponse,
  StackList,
  StackRef,
  StackSpec,
  STACK_LABEL,
  type StackDeployResult,
  type StackDryRunResult,
  type StackNeeds,
} from '../../api/stack.ts';
import { newId } from '../../lib/ids.ts';
import type { Tx } from '../../store/tx.ts';
import type { RouteContext, SecretSealer } from './context.ts';
import { errorResponses, translateStoreErrors } from './errors.ts';
import { checkFileReferences } from './file-objects.ts';
import { containersOnNetwork, describeContainers } from './network-refs.ts';
import { StackLoader } from './stack-loader.ts';
import { planStack, type StackPlan } from './stack-plan.ts';

/** Compose files, env files and secret files together; well above the API's default 1 MiB. */
const STACK_BODY_LIMIT = 16 * 1024 * 1024;

/**
 * `POST /v1/stacks` (deploy or redeploy, or with `dryRun` only check and plan), `GET /v1/stacks`,
 * `GET/DELETE /v1/stacks/:name`. A deploy loads the compose files the client sent
 * (`stack-load.ts`), plans the writes (`stack-plan.ts`) and commits them in one transaction: a
 * file with any problem, or a plan that cannot apply, changes nothing.
 */
export function registerStackRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;
  // Compose files are loaded in a worker thread with a heap limit and a deadline (`stack-loader.ts`).
  const loader = new StackLoader(ctx.deps.clock);
  app.addHook('onClose', async () => loader.close());
  const stacks = (): Stack[] => store.table('stack').all();
  const find = (ref: string): Stack => {
    const s = store.table('stack').get(ref) ?? store.table('stack').by('name', ref)[0];
    if (!s) throw new ApiError('not_found', `stack ${ref} not found`);
    return s;
  };

  app.get('/v1/stacks', {
    schema: { summary: 'List stacks', tags: ['stacks'], response: { 200: StackList } },
    handler: async () => stacks().sort((a, b) => a.spec.name.localeCompare(b.spec.name)),
  });

  app.get<{ Params: StackRef }>('/v1/stacks/:name', {
    schema: { summary: 'Inspect a stack', tags: ['stacks'], params: StackRef, response: { 200: Stack, ...errorResponses('not_found') } },
    handler: async (req) => find(req.params.name),
  });

  app.post<{ Body: StackSpec; Querystring: StackDeployQuery }>('/v1/stacks', {
    bodyLimit: STACK_BODY_LIMIT,
    schema: {
      summary: 'Deploy or redeploy a stack from compose files',
      description:
        'Takes the compose files and every file they read (.env, env_file, extends, secret and config files), keyed by their path relative to the project directory, the profiles and the variables they use. The server loads them; a dry run (dryRun=true) whose request lacks a file or variable the files read answers with `needs` (send them, or list them under missingFiles / unsetVariables, and ask again), and otherwise with the changes a deploy would make. Any problem is a 400 whose details read FILE:LINE:COL: path: message, and nothing changes. Otherwise the stack, its secrets, configs and services are written in one transaction: new services are created, changed ones updated (a rolling update when what tasks run changes), unchanged ones left alone; with prune=true services no longer in the files are removed. The networks the services use are created first (named STACK_key, labelled com.docker.stack.namespace, each with a range and VXLAN id), unless external (which must exist); an existing network of the stack with other settings is refused (networks are immutable); with prune=true, networks no longer in the files that no service uses and no plain container is attached to are removed (the others are kept). A published port another service holds is refused.',
      tags: ['stacks'],
      body: StackSpec,
      querystring: StackDeployQuery,
      response: { 200: StackDeployResponse, ...errorResponses('invalid_argument', 'already_exists', 'failed_precondition', 'conflict', 'unavailable') },
    },
    handler: async (req, reply): Promise<StackDeployResult | StackDryRunResult> => {
      const name = req.body.name;
      // A request closed while its load waits behind others is dropped from the loader's queue.
      const gone = new AbortController();
      const onClose = (): void => {
        if (!reply.raw.writableFinished) gone.abort();
      };
      reply.raw.once('close', onClose);
      const load = await loader.load(req.body, gone.signal).finally(() => reply.raw.off('close', onClose));
      if ('needs' in load) {
        if (req.query.dryRun) return { dryRun: true, needs: load.needs, changes: [], warnings: [] };
        throw incomplete(name, load.needs);
      }
      const { loaded } = load;
      if (!req.query.dryRun) checkBuiltImages(name, loaded.builds, req.body.builtImages ?? {}, ctx);
      const sealer = ctx.deps.secrets;
      if (loaded.secrets.some((s) => s.data !== undefined) && !sealer) {
        throw new ApiError('unavailable', 'this manager has no secret sealing key: a stack with secrets cannot be deployed');
      }
      const target = { name, ...loaded, services: loaded.converted.services, networks: loaded.converted.networks };
      const holdsData = (secret: StoredSecret, data: Buffer): boolean => holds(sealer, secret, data);
      if (req.query.dryRun) {
        try {
          const current = {
            stack: store.table('stack').by('name', name)[0],
            services: store.services.all(),
            secrets: store.table('secret').all(),
            configs: store.table('config').all(),
            networks: store.table('network').all(),
            nodes: store.nodes.all(),
          };
          // Nothing is written: ids are placeholders and nothing is sealed.
          const plan = planStack(current, target, req.query.prune, { now: ctx.deps.clock.now(), newId, seal: () => '', holds: holdsData });
          const builds = loaded.builds.length > 0 ? { builds: [...loaded.builds] } : {};
          return { dryRun: true, needs: { files: [], variables: [] }, ...builds, changes: plan.changes, warnings: [...loaded.warnings] };
        } finally {
          for (const s of loaded.secrets) s.data?.fill(0);
        }
      }
      let plan: StackPlan | undefined;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const current = {
              stack: tx.table('stack').by('name', name)[0],
              services: tx.services.all(),
              secrets: tx.table('secret').all(),
              configs: tx.table('config').all(),
              networks: tx.table('network').all(),
              nodes: tx.nodes.all(),
            };
            plan = planStack(current, target, req.query.prune, {
              now: ctx.deps.clock.now(),
              newId,
              seal: (data, id) => (sealer as SecretSealer).seal(data, id),
              holds: holdsData,
            });
            apply(tx, plan);
          }),
        { conflict: `stack ${name} changed while it was being deployed: retry`, already_exists: `an object of stack ${name} has a name that is already taken` },
      );
      for (const s of loaded.secrets) s.data?.fill(0);
      const stack = store.table('stack').by('name', name)[0];
      if (!stack || !plan) throw new ApiError('internal', `stack ${name} was written but cannot be read back`);
      return { stack, changes: plan.changes, warnings: stack.warnings };
    },
  });

  app.delete<{ Params: StackRef }>('/v1/stacks/:name', {
    schema: {
      summary: 'Remove a stack and everything it owns',
      description:
        'Removes its services (their tasks stop), then its networks (never external ones), secrets and configs, and the stack, in one transaction. Refused (412, nothing removed) while a network of the stack is used by a service outside it or has plain containers attached.',
      tags: ['stacks'],
      params: StackRef,
      response: { 204: NoContent, ...errorResponses('not_found', 'failed_precondition') },
    },
    handler: async (req, reply) => {
      const name = find(req.params.name).spec.name;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            // Read in this transaction, not before it: a run again after a conflict (a deploy
            // committed in between) removes what the stack owns now.
            const stack = tx.table('stack').by('name', name)[0];
            if (!stack) throw new ApiError('not_found', `stack ${name} not found`);
            const mine = (o: { id: string; spec: { labels: Readonly<Record<string, string>> } }, ids: readonly string[]): boolean =>
              o.spec.labels[STACK_LABEL] === name || ids.includes(o.id);
            const services = tx.services.all().filter((s) => mine(s, stack.resources.services));
            for (const s of services) tx.services.delete(s.id);
            const others = tx.services.all().filter((s) => !services.includes(s));
            // A stack stored before it had networks has no `resources.networks`.
            const networkIds = (stack.resources.networks as string[] | undefined) ?? [];
            for (const n of tx.table('network').all().filter((x) => !x.ingress && mine(x, networkIds))) {
              const users = others.filter((s) => s.spec.taskTemplate.networks.some((a) => a.target === n.spec.name || a.target === n.id));
              if (users.length > 0) {
                throw new ApiError('failed_precondition', `stack ${name} cannot be removed: its network ${n.spec.name} is used by ${users.map((u) => u.spec.name).join(', ')}, which is not part of the stack`);
              }
              const attached = containersOnNetwork(tx.nodes.all(), n);
              if (attached.length > 0) {
                throw new ApiError('failed_precondition', `stack ${name} cannot be removed: its network ${n.spec.name} has ${attached.length} container(s) attached (${describeContainers(attached)}): disconnect or remove them first`);
              }
              tx.table('network').delete(n.id);
            }
            for (const kind of ['secret', 'config'] as const) {
              const ids = kind === 'secret' ? stack.resources.secrets : stack.resources.configs;
              for (const o of tx.table(kind).all().filter((x) => mine(x, ids))) {
                const users = others.filter((s) => (kind === 'secret' ? s.spec.taskTemplate.container.secrets : s.spec.taskTemplate.container.configs).some((r) => r.id === o.id));
                if (users.length > 0) {
                  throw new ApiError('failed_precondition', `stack ${name} cannot be removed: its ${kind} ${o.spec.name} is used by ${users.map((u) => u.spec.name).join(', ')}, which is not part of the stack`);
                }
                tx.table(kind).delete(o.id);
              }
            }
            tx.table('stack').delete(stack.id);
          }),
        { conflict: `stack ${name} changed while it was being removed: retry` },
      );
      return reply.code(204).send();
    },
  });
}

/**
 * Every service with `build:` runs a built image the cluster holds, named in `builtImages`
 * (the client built it first: docs/builds.md), and `builtImages` names no other service.
 */
function checkBuiltImages(stack: string, builds: readonly StackBuild[], builtImages: Readonly<Record<string, string>>, ctx: RouteContext): void {
  const details: ErrorDetail[] = [];
  const building = new Set(builds.map((b) => b.service));
  for (const b of builds) {
    const ref = builtImages[b.service];
    if (ref === undefined) {
      details.push({ path: `builtImages.${b.service}`, message: `service ${b.service} has \`build:\` and the request names no built image for it (\`flotilla stack deploy\` builds it first)` });
    } else if (!isBuiltImageRef(ref) || ctx.deps.images?.find(ref) === undefined) {
      throw new ApiError('failed_precondition', `stack ${stack}: service ${b.service} would run image ${ref}, which the cluster does not have: build it first (POST /v1/builds)`);
    }
  }
  for (const service of Object.keys(builtImages)) {
    if (!building.has(service)) details.push({ path: `builtImages.${service}`, message: `service ${service} has no \`build:\` in the compose files` });
  }
  if (details.length > 0) throw new ApiError('invalid_argument', `stack ${stack}: ${details[0]?.message ?? ''}`, { details });
}

/** A deploy whose request lacks inputs the files read (a client that skipped the dry run). */
function incomplete(name: string, needs: StackNeeds): ApiError {
  const details = [
    ...needs.files.map((f) => ({ path: 'files', message: `the compose files read ${f}, which the request neither carries nor lists under missingFiles` })),
    ...needs.variables.map((v) => ({ path: 'environment', message: `the compose files use variable ${v}, which the request neither carries nor lists under unsetVariables` })),
  ];
  return new ApiError('invalid_argument', `stack ${name}: the request lacks ${details.length} input(s) the compose files read (ask with dryRun=true for what they need): ${details[0]?.message ?? ''}`, { details });
}

/** Writes a plan; every service it writes references secrets and configs that exist. */
function apply(tx: Tx, plan: StackPlan): void {
  for (const o of plan.networks.create) tx.table('network').create(o);
  for (const o of plan.secrets.create) tx.table('secret').create(o);
  for (const o of plan.secrets.update) tx.table('secret').update(o);
  for (const o of plan.configs.create) tx.table('config').create(o);
  for (const o of plan.configs.update) tx.table('config').update(o);
  for (const id of plan.services.delete) tx.services.delete(id);
  for (const s of plan.services.create) tx.services.create(s);
  for (const s of plan.services.update) tx.services.update(s);
  for (const s of [...plan.services.create, ...plan.services.update]) checkFileReferences(s.spec, tx.table('secret'), tx.table('config'));
  // Removed last: the services that used them are gone or no longer refer to them.
  for (const id of plan.secrets.delete) tx.table('secret').delete(id);
  for (const id of plan.configs.delete) tx.table('config').delete(id);
  for (const id of plan.networks.delete) tx.table('network').delete(id);
  if ('create' in plan.stack) tx.table('stack').create(plan.stack.create);
  else tx.table('stack').update(plan.stack.update);
}

function holds(sealer: SecretSealer | undefined, secret: StoredSecret, data: Buffer): boolean {
  if (!sealer?.open || secret.sizeBytes !== data.length) return false;
  try {
    const plain = sealer.open(secret.sealed, secret.id);
    const same = plain.length === data.length && timingSafeEqual(plain, data);
    plain.fill(0);
    return same;
  } catch {
    return false;
  }
}
