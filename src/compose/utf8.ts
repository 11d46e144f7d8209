/**
 * Decoding files as UTF-8 strictly: a byte that is not UTF-8 is found when the file is read,
 * where it can still be told apart from a U+FFFD written in the file (valid text, which a
 * lenient decode would make of every bad byte). Docker Compose refuses such files ("invalid
 * leading UTF-8 octet").
 */

/** Where the first byte that is not UTF-8 is: line and column (from 1) of the text before it. */
export interface NotUtf8 {
  readonly line: number;
  readonly col: number;
  readonly byte: number;
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of `bytes` (a BOM kept, as `Buffer.toString` keeps it), or where it stops being UTF-8. */
export function decodeUtf8(bytes: Uint8Array): { text: string } | { notUtf8: NotUtf8 } {
  try {
    return { text: strict.decode(bytes) };
  } catch {
    return { notUtf8: locate(bytes) };
  }
}

/** `byte 0xFF is not UTF-8: the file must be UTF-8 text` */
export function notUtf8Message(bad: NotUtf8): string {
  return `byte 0x${bad.byte.toString(16).toUpperCase().padStart(2, '0')} is not UTF-8: the file must be UTF-8 text`;
}

/**
 * A lenient decode turns each bad sequence into U+FFFD; the first U+FFFD whose bytes are not
 * EF BF BD (U+FFFD itself) is the first bad one. Earlier ones were written as such, so the byte
 * offset up to it is exact.
 */
function locate(bytes: Uint8Array): NotUtf8 {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('utf8');
  let at = 0;
  let byteAt = 0;
  for (let i = text.indexOf('\uFFFD'); i !== -1; i = text.indexOf('\uFFFD', i + 1)) {
    byteAt += Buffer.byteLength(text.slice(at, i), 'utf8');
    at = i;
    if (buf[byteAt] !== 0xef || buf[byteAt + 1] !== 0xbf || buf[byteAt + 2] !== 0xbd) {
      let line = 1;
      let start = 0;
      for (let j = text.indexOf('\n'); j !== -1 && j < i; j = text.indexOf('\n', j + 1)) [line, start] = [line + 1, j + 1];
      return { line, col: i - start + 1, byte: buf[byteAt] ?? 0 };
    }
  }
  return { line: 1, col: 1, byte: buf[0] ?? 0 };
}
