import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDotenv } from './dotenv.ts';

describe('parseDotenv', () => {
  it('follows the Compose .env rules', () => {
    const text = [
      '# a comment',
      '',
      'PLAIN=value',
      'SPACED = padded  ',
      'export EXPORTED=yes',
      'INLINE=value # a comment',
      'HASH=value#not-a-comment',
      "SINGLE='literal $PLAIN # kept'",
      'DOUBLE="a\\tb \\"q\\" $PLAIN" # comment',
      'REF=${PLAIN}-x',
      'DEFAULT=${NOPE:-fallback}',
      'EMPTY=',
      'FROM_ENV',
      'NOT_IN_ENV',
      'MULTI="one',
      'two"',
    ].join('\n');
    const vars = parseDotenv(text, '.env', (n) => (n === 'FROM_ENV' ? 'outside' : undefined));
    assert.deepEqual(Object.fromEntries(vars), {
      PLAIN: 'value',
      SPACED: 'padded',
      EXPORTED: 'yes',
      INLINE: 'value',
      HASH: 'value#not-a-comment',
      SINGLE: 'literal $PLAIN # kept',
      DOUBLE: 'a\tb "q" value',
      REF: 'value-x',
      DEFAULT: 'fallback',
      EMPTY: '',
      FROM_ENV: 'outside',
      MULTI: 'one\ntwo',
    });
  });
  it('reports bad lines with their position', () => {
    assert.throws(() => parseDotenv('A=1\n  not a line\n', '/p/.env'), { message: '/p/.env:2:3: invalid line "not a line": expected KEY=VALUE' });
    assert.throws(() => parseDotenv('A="open\n', '/p/.env'), { message: '/p/.env:1:3: A: unterminated double-quoted value' });
    assert.throws(() => parseDotenv("A='x' y\n", '/p/.env'), /unexpected text after the closing quote/);
  });
});
