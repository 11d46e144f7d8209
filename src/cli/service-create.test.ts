import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortConfig } from '../api/service.ts';
import { isUsageError } from './parse.ts';
import { buildServiceSpec, type CreateFlags } from './service-create.ts';

const none: CreateFlags = { env: [], label: [], containerLabel: [], constraint: [], publish: [] };

describe('buildServiceSpec', () => {
  it('docker: IMAGE then COMMAND ARG... become args (the image CMD)', () => {
    const { spec } = buildServiceSpec(['flotilla/busybox:test', 'sleep', '3600'], { ...none, name: 'web', replicas: '3' });
    assert.deepEqual(spec, {
      name: 'web',
      replicas: 3,
      taskTemplate: { driver: 'docker', container: { image: 'flotilla/busybox:test', args: ['sleep', '3600'] } },
    });
  });

  it('exec: COMMAND ARG... become the command', () => {
    const { spec } = buildServiceSpec(['sleep', '100'], { ...none, name: 'j', driver: 'exec' });
    assert.deepEqual(spec['taskTemplate'], { driver: 'exec', container: { command: ['sleep', '100'] } });
  });

  it('maps every flag to its field', () => {
    const { spec, notes } = buildServiceSpec(['nginx:1.27'], {
      ...none,
      name: 'web',
      mode: 'global',
      env: ['A=1'],
      label: ['team=x'],
      containerLabel: ['c=1'],
      constraint: ['node.labels.zone==eu'],
      limitCpu: '0.5',
      limitMemory: '512M',
      reserveCpu: '0.25',
      reserveMemory: '64M',
      restartCondition: 'on-failure',
      restartDelay: '5s',
      restartMaxAttempts: '3',
      restartWindow: '1m',
      publish: ['8080:80', 'published=8443,target=443,mode=host,protocol=tcp'],
      workdir: '/app',
      user: 'nobody',
      stopSignal: 'SIGQUIT',
      stopGracePeriod: '30s',
      maxReplicasPerNode: '2',
      entrypoint: '/bin/sh -c',
    });
    assert.deepEqual(spec, {
      name: 'web',
      mode: 'global',
      labels: { team: 'x' },
      taskTemplate: {
        driver: 'docker',
        container: {
          image: 'nginx:1.27',
          command: ['/bin/sh', '-c'],
          env: ['A=1'],
          labels: { c: '1' },
          workdir: '/app',
          user: 'nobody',
          stopSignal: 'SIGQUIT',
          stopGracePeriodMs: 30_000,
        },
        resources: {
          limits: { nanoCpus: 500_000_000, memoryBytes: 512 * 1024 ** 2 },
          reservations: { nanoCpus: 250_000_000, memoryBytes: 64 * 1024 ** 2 },
        },
        restartPolicy: { condition: 'on-failure', delayMs: 5000, maxAttempts: 3, windowMs: 60_000 },
        placement: { constraints: ['node.labels.zone==eu'], maxReplicasPerNode: 2 },
      },
      endpoint: {
        ports: [
          { published: 8080, target: 80 },
          { published: 8443, target: 443, mode: 'host', protocol: 'tcp' },
        ],
      },
    });
    // A short --publish is told it means host mode while that is the default (not once ingress is).
    assert.equal(notes.length, PortConfig.properties.mode.default === 'host' ? 1 : 0);
    if (notes.length > 0) assert.match(notes[0] ?? '', /host mode/);
  });

  it('passes values only the server can judge through as written', () => {
    const { spec } = buildServiceSpec(['img'], { ...none, name: 'x', replicas: '-1' });
    assert.equal(spec['replicas'], -1);
    const odd = buildServiceSpec(['img'], { ...none, name: 'x', replicas: 'many' });
    assert.equal(odd.spec['replicas'], 'many');
  });

  it('names the service after the image when --name is not given', () => {
    const { spec } = buildServiceSpec(['registry:5000/team/web:1.2'], none, () => 'abcd');
    assert.equal(spec['name'], 'web-abcd');
  });

  it('needs an image (or a command with exec)', () => {
    assert.throws(() => buildServiceSpec([], none), isUsageError);
  });
});
