import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CodedError, errorGuard, isCodedError } from './coded-error.ts';

type ProbeCode = 'a' | 'b';
class ProbeError extends CodedError<ProbeCode> {
  override readonly name = 'ProbeError';
  readonly extra: number;
  constructor(code: ProbeCode, message: string, extra: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.extra = extra;
  }
}
class OtherError extends CodedError<'x'> {
  override readonly name = 'OtherError';
}
const isProbeError = errorGuard(ProbeError);

describe('CodedError', () => {
  it('carries code, message, name, its own fields and the cause', () => {
    const cause = new Error('root');
    const e = new ProbeError('b', 'it broke', 7, { cause });
    assert.equal(e.code, 'b');
    assert.equal(e.message, 'it broke');
    assert.equal(e.name, 'ProbeError');
    assert.equal(e.extra, 7);
    assert.equal(e.cause, cause);
    assert.ok(e instanceof ProbeError && e instanceof CodedError && e instanceof Error);
    assert.match(String(e), /^ProbeError: it broke$/);
  });

  it('has no cause property when none is given', () => {
    assert.equal('cause' in new ProbeError('a', 'm', 1), false);
    assert.equal('cause' in new ProbeError('a', 'm', 1, { cause: undefined }), false);
  });

  it('guards by class, with exactly one argument', () => {
    const errors: unknown[] = [new ProbeError('a', 'm', 1), new OtherError('x', 'm'), new Error('plain'), 'text'];
    assert.deepEqual(errors.map((e) => isProbeError(e)), [true, false, false, false]);
    assert.deepEqual(errors.map((e) => isCodedError(e)), [true, true, false, false]);
    // Array callbacks pass (item, index, array): the guard ignores all but the item.
    assert.equal(errors.filter(isProbeError).length, 1);
  });
});
