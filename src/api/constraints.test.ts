import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchConstraint, parseConstraint, type Constraint } from './constraints.ts';
import { makeNode } from '../testing/fixtures.ts';

function parsed(text: string): Constraint {
  const c = parseConstraint(text);
  assert.ok(!('error' in c), `parses ${text}`);
  return c;
}

describe('constraints', () => {
  it('parses the keys Swarm has, with spaces allowed around the operator', () => {
    assert.deepEqual(parsed('node.labels.zone == east'), { key: 'node.labels.zone', op: '==', value: 'east', text: 'node.labels.zone == east' });
    assert.equal(parsed('node.role!=manager').op, '!=');
  });

  it('explains what is wrong', () => {
    const says = (text: string, re: RegExp) => {
      const c = parseConstraint(text);
      assert.ok('error' in c && re.test(c.error), `${text}: ${JSON.stringify(c)}`);
    };
    says('zone=east', /malformed/);
    says('node.colour==red', /unknown constraint key "node.colour"/);
    says('node.labels.==x', /unknown constraint key/);
    says('node.role==', /no value/);
  });

  it('matches node fields and labels; a missing label never equals', () => {
    const node = makeNode({ id: 'n1', spec: { role: 'worker', labels: { zone: 'east' } }, description: { hostname: 'h1' } });
    assert.equal(matchConstraint(node, parsed('node.labels.zone==east')), true);
    assert.equal(matchConstraint(node, parsed('node.labels.zone!=east')), false);
    assert.equal(matchConstraint(node, parsed('node.labels.disk==ssd')), false);
    assert.equal(matchConstraint(node, parsed('node.labels.disk!=ssd')), true);
    assert.equal(matchConstraint(node, parsed('node.hostname==h1')), true);
    assert.equal(matchConstraint(node, parsed('node.id==n1')), true);
    assert.equal(matchConstraint(node, parsed('node.role==manager')), false);
  });
});
