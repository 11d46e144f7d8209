import type { Stack, StackDeployResult, StackDryRunResult } from '../../../api/stack.ts';
import { ClientError, type FlotillaClient, type StackSpecInput } from '../../../client/client.ts';

/** The key the pasted compose file is sent under (the project directory is the manager's `/`). */
export const PASTED_FILE = 'compose.yaml';

/** How many times the manager may ask for files or variables before the dashboard gives up. */
const MAX_ROUNDS = 5;

/** What a deploy (or a check) of a pasted compose file came to. */
export interface PastedStackOutcome {
  /** The dry run's answer: the changes a deploy makes now, and the loader's warnings. */
  readonly plan: StackDryRunResult;
  /** The deploy's answer; absent for a check. */
  readonly deployed?: StackDeployResult;
  /**
   * Files and variables the compose file reads that a browser does not have: sent as missing
   * and unset (the loader then reports a problem only where one is required).
   */
  readonly lacking: { readonly files: readonly string[]; readonly variables: readonly string[] };
}

/**
 * Checks (`deploy: false`) or deploys a stack from one pasted compose file. It first asks the
 * manager for a dry run, telling it which files and variables it lacks until the loader needs
 * nothing more, so the deploy itself is the request the dry run accepted; a compose file with
 * problems is refused by the dry run (a `ClientError` `invalid_argument` whose details locate
 * each problem: see `stackProblems`) and nothing is deployed. Services that need a build are
 * refused here: a build needs the files of a checkout (`flotilla stack deploy`).
 */
export async function deployPasted(
  client: Pick<FlotillaClient, 'planStack' | 'deployStack'>,
  name: string,
  compose: string,
  options: { deploy: boolean; prune?: boolean },
): Promise<PastedStackOutcome> {
  const missingFiles = new Set<string>();
  const unsetVariables = new Set<string>();
  const request = (): StackSpecInput => ({
    name,
    composeFiles: [PASTED_FILE],
    files: [{ path: PASTED_FILE, content: compose }],
    missingFiles: [...missingFiles].sort(),
    unsetVariables: [...unsetVariables].sort(),
  });
  const prune = options.prune === true ? { prune: true } : {};
  for (let round = 1; ; round++) {
    const plan = await client.planStack(request(), prune);
    const { files, variables } = plan.needs;
    if (files.length === 0 && variables.length === 0) {
      if (plan.builds !== undefined && plan.builds.length > 0) {
        const which = plan.builds.map((b) => b.service).join(', ');
        throw new ClientError('invalid_argument', `service(s) ${which} need a build, which needs the files of a checkout: deploy this stack with \`flotilla stack deploy\``);
      }
      const lacking = { files: [...missingFiles].sort(), variables: [...unsetVariables].sort() };
      if (!options.deploy) return { plan, lacking };
      const deployed = await client.deployStack(request(), prune);
      return { plan, deployed, lacking };
    }
    if (round >= MAX_ROUNDS) throw new ClientError('protocol', `the manager keeps asking for more of stack ${name} (${[...files, ...variables].join(', ')}) after ${round} rounds`);
    for (const f of files) missingFiles.add(f);
    for (const v of variables) unsetVariables.add(v);
  }
}

/** The compose source of a deployed stack (its first compose file), to edit and deploy again. */
export function composeSourceOf(stack: Stack): string | undefined {
  const first = stack.spec.composeFiles[0];
  return stack.spec.files.find((f) => f.path === first)?.content;
}
