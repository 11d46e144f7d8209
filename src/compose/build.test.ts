import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UNBUILT_IMAGE } from '../api/build.ts';
import { projectBuilds } from './build.ts';
import { toServiceSpecs } from './convert.ts';
import { loadProject } from './load.ts';
import { memFs } from './mem-fs.ts';

function load(yaml: string): ReturnType<typeof projectBuilds> {
  const { project } = loadProject({ files: ['compose.yaml'], cwd: '/p', env: { TAG: 'v2' }, fs: memFs({ '/p/compose.yaml': yaml }) });
  return projectBuilds(project, '/p');
}

describe('projectBuilds', () => {
  it('reads the short form and the long one, resolved against the project directory and interpolated', () => {
    const r = load([
      'services:',
      '  a:',
      '    build: ./app',
      '  b:',
      '    build:',
      '      context: ../other',
      '      dockerfile: docker/Dockerfile.prod',
      '      target: prod',
      '      args: { VERSION: $TAG, N: 3, UNSET: null }',
      '      labels: [team=web, bare]',
      '  c:',
      '    image: x',
      '',
    ].join('\n'));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.builds, [
      { service: 'a', context: '/p/app', options: { dockerfile: 'Dockerfile', args: {}, labels: {} } },
      { service: 'b', context: '/other', options: { dockerfile: 'docker/Dockerfile.prod', target: 'prod', args: { VERSION: 'v2', N: '3' }, labels: { team: 'web' } } },
    ]);
  });

  it('warns about keys it does not honour', () => {
    const r = load('services:\n  a:\n    build:\n      context: .\n      cache_from: [x]\n      ssh: [default]\n');
    assert.deepEqual(r.warnings, ['service a: field `build.cache_from` is not supported; ignored', 'service a: field `build.ssh` is not supported; ignored']);
  });

  it('refuses a remote context and a Dockerfile outside the context, with the place', () => {
    const remote = load('services:\n  a:\n    build: https://github.com/x/y.git\n');
    assert.equal(remote.builds.length, 0);
    assert.match(remote.problems[0]?.message ?? '', /remote context/);
    assert.equal(remote.problems[0]?.pos?.line, 3, 'located');
    const outside = load('services:\n  a:\n    build:\n      context: .\n      dockerfile: ../Dockerfile\n');
    assert.match(outside.problems[0]?.message ?? '', /outside the build context/);
    assert.equal(outside.problems[0]?.path, 'services.a.build.dockerfile');
  });
});

describe('toServiceSpecs of a service with build:', () => {
  const { project } = loadProject({ files: ['compose.yaml'], cwd: '/p', env: {}, fs: memFs({ '/p/compose.yaml': 'services:\n  web:\n    build: .\n' }) });
  it('runs the built image it is given, a placeholder until then, and does not warn about build', () => {
    const built = `flotilla.local/shop_web:${'a'.repeat(64)}`;
    const withImage = toServiceSpecs(project, 'shop', { images: { web: built } });
    assert.equal(withImage.services[0]?.taskTemplate.container.image, built);
    assert.deepEqual(withImage.warnings, []);
    assert.equal(toServiceSpecs(project, 'shop').services[0]?.taskTemplate.container.image, UNBUILT_IMAGE);
  });
});
