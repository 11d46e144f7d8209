import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { managerStatus } from './manager-status.ts';

describe('managerStatus', () => {
  const managers = [
    { id: 'm1', nodeId: 'n1', addr: '10.0.0.1:4280', leader: true },
    { id: 'm2', nodeId: 'n2', addr: '10.0.0.2:4280', leader: false },
    { id: 'm4', addr: '10.0.0.4:4280', leader: false },
  ];
  const node = (id: string, role: 'manager' | 'worker'): { id: string; spec: { role: string } } => ({ id, spec: { role } });

  it('is Leader, Reachable or Unreachable for a manager node, from the live members; empty for a worker', () => {
    assert.equal(managerStatus(node('n1', 'manager'), managers), 'Leader');
    assert.equal(managerStatus(node('n2', 'manager'), managers), 'Reachable');
    assert.equal(managerStatus(node('n3', 'manager'), managers), 'Unreachable');
    assert.equal(managerStatus(node('n2', 'worker'), managers), '');
    assert.equal(managerStatus(node('n1', 'manager'), []), 'Unreachable');
  });
});
