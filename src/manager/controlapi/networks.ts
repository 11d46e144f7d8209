import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { isTerminal } from '../../api/task-state.ts';
import { NoContent } from '../../api/meta.ts';
import { INGRESS_NETWORK, Network, NetworkCreate, NetworkList, NetworkRef } from '../../api/network.ts';
import { NetworkFilter, matchesNetworkFilter } from '../../api/network-requests.ts';
import { chooseRange } from '../../api/network-ranges.ts';
import { newId } from '../../lib/ids.ts';
import type { RouteContext } from './context.ts';
import { errorResponses, translateStoreErrors } from './errors.ts';
import { resolveByName } from './lookup.ts';
import { containersOnNetwork, describeContainers, servicesOnNetwork } from './network-refs.ts';

/** Docker's own networks on every engine: Swarm refuses these names too. */
const DOCKER_PREDEFINED: ReadonlySet<string> = new Set(['bridge', 'host', 'none']);

/**
 * `GET/POST /v1/networks`, `GET/DELETE /v1/networks/:idOrName`. A network's range and VXLAN id
 * are chosen here, once, in the transaction that creates it (`chooseRange`), so a malformed or
 * overlapping subnet is a 400 at once; `slices` are the allocator's.
 */
export function registerNetworkRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;
  const table = (): ReturnType<typeof store.table<'network'>> => store.table('network');

  app.get<{ Querystring: NetworkFilter }>('/v1/networks', {
    schema: {
      summary: 'List networks',
      description: 'The built-in ingress network included. `label` filters combine with AND.',
      tags: ['networks'],
      querystring: NetworkFilter,
      response: { 200: NetworkList, ...errorResponses('invalid_argument') },
    },
    handler: async (req) => {
      const all = table().all();
      return req.query.label === undefined ? all : all.filter((n) => matchesNetworkFilter(n, req.query));
    },
  });

  app.post<{ Body: NetworkCreate }>('/v1/networks', {
    schema: {
      summary: 'Create a network',
      description:
        'An overlay network. Without `subnet` it gets the first free /16 of 10.0.0.0/8; a given subnet (/8 to /24) must not overlap another network. The name `ingress` is reserved, and Docker\'s pre-defined `bridge`, `host` and `none` are refused (as Swarm does).',
      tags: ['networks'],
      body: NetworkCreate,
      response: { 201: Network, ...errorResponses('invalid_argument', 'already_exists') },
    },
    handler: async (req, reply) => {
      const { spec } = req.body;
      if (spec.name === INGRESS_NETWORK) {
        throw new ApiError('invalid_argument', `network name ${INGRESS_NETWORK} is reserved for the built-in routing-mesh network: choose another name`, {
          details: [{ path: 'spec.name', message: 'reserved' }],
        });
      }
      if (DOCKER_PREDEFINED.has(spec.name)) {
        // An attachable network's Docker network takes its name: the engine already has these.
        throw new ApiError('invalid_argument', `network name ${spec.name} is one of Docker's pre-defined networks (bridge, host, none) and cannot be created: choose another name`, {
          details: [{ path: 'spec.name', message: 'pre-defined' }],
        });
      }
      const id = newId();
      const taken = `network name ${spec.name} is already taken`;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const networks = tx.table('network');
            if (networks.by('name', spec.name).length > 0) throw new ApiError('already_exists', taken);
            const range = chooseRange(spec, networks.all());
            if (!range.ok) throw new ApiError('invalid_argument', `invalid network ${spec.name}: ${range.reason}`, { details: [{ path: 'spec.subnet', message: range.reason }] });
            networks.create({ id, spec, subnet: range.subnet, vni: range.vni, ingress: false, slices: [] });
          }),
        { already_exists: taken },
      );
      return reply.code(201).send(table().get(id));
    },
  });

  app.get<{ Params: NetworkRef }>('/v1/networks/:idOrName', {
    schema: { summary: 'Inspect a network', tags: ['networks'], params: NetworkRef, response: { 200: Network, ...errorResponses('not_found', 'invalid_argument') } },
    handler: async (req) => resolveByName('network', table(), req.params.idOrName),
  });

  app.delete<{ Params: NetworkRef }>('/v1/networks/:idOrName', {
    schema: {
      summary: 'Remove a network',
      description: 'Refused (412) while a service, a task or a plain container (on an attachable network) is on it, and for the built-in ingress network.',
      tags: ['networks'],
      params: NetworkRef,
      response: { 204: NoContent, ...errorResponses('not_found', 'invalid_argument', 'failed_precondition') },
    },
    handler: async (req, reply) => {
      const n = resolveByName('network', table(), req.params.idOrName);
      if (n.ingress) {
        throw new ApiError('failed_precondition', `network ${n.spec.name} is the built-in routing-mesh network: it cannot be removed`);
      }
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const users = servicesOnNetwork(tx.services.all(), n);
            if (users.length > 0) {
              throw new ApiError('failed_precondition', `network ${n.spec.name} is in use by service${users.length > 1 ? 's' : ''} ${users.join(', ')}: remove it from them first`);
            }
            // Tasks of an older spec (a rolling update, a task being stopped) may still hold addresses on it.
            const holders = tx.tasks.all().filter((t) => !isTerminal(t.status.state) && (t.networks ?? []).some((a) => a.networkId === n.id));
            if (holders.length > 0) {
              const names = [...new Set(holders.map((t) => t.serviceName))].sort();
              throw new ApiError('failed_precondition', `network ${n.spec.name} still has ${holders.length} task(s) of ${names.join(', ')} on it: wait until they have stopped`);
            }
            // Plain containers (`docker run --network`) on it, as Swarm refuses while its attachment tasks run.
            const attached = containersOnNetwork(tx.nodes.all(), n);
            if (attached.length > 0) {
              throw new ApiError('failed_precondition', `network ${n.spec.name} has ${attached.length} container(s) attached (${describeContainers(attached)}): disconnect or remove them first`);
            }
            if (tx.table('network').get(n.id)) tx.table('network').delete(n.id);
          }),
        {},
      );
      return reply.code(204).send();
    },
  });
}
