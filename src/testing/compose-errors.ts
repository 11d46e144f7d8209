import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The malformed compose files of `test/integration/stacks/bad`. */
export const BAD_STACKS_DIR = join(root, 'test', 'integration', 'stacks', 'bad');

/**
 * Each malformed file and the located error every command that loads it (`stack config`,
 * `stack deploy`, on the client or the manager) must print: one kind of mistake per file.
 */
export const BAD_STACK_CASES: ReadonlyArray<readonly [file: string, error: RegExp]> = [
  ['yaml.yaml', /yaml\.yaml:\d+:\d+: .*YAML/i],
  ['type.yaml', /type\.yaml:5:\d+: services\.web\.deploy\.replicas: /],
  ['unknown.yaml', /unknown\.yaml:4:\d+: services\.web\.comand: /],
  ['variable.yaml', /variable\.yaml:3:\d+: services\.web\.image: .*IMAGE must be set/],
  ['secret.yaml', /secret\.yaml:7:\d+: secrets\.token\.file: /],
  ['cycle.yaml', /cycle\.yaml:\d+:\d+: services\.\w\.depends_on.*cycle/i],
];

/** What `bad.yaml` of the compose test data (in `dir`) prints: two problems, one line each. */
export function badYamlErrors(dir: string): string {
  return [
    `${dir}/bad.yaml:3:5: services.web.imgae: unknown key, did you mean "image"?`,
    `${dir}/bad.yaml:6:17: services.web.deploy.replicas: expected an integer, got "three"`,
    '',
  ].join('\n');
}
