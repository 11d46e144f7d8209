import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretsError } from './errors.ts';

/**
 * AES-256-GCM sealing of secret data. The sealed form is base64 of
 * `IV (12 bytes) ‖ GCM tag (16 bytes) ‖ ciphertext`, as `StoredSecret.sealed` documents. The
 * object's id is bound in as additional authenticated data, so a sealed blob copied onto
 * another secret does not open.
 */

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';

/** What the control API needs: sealing only (it never opens). */
export interface Sealer {
  /** Seals `plaintext` for the object `aad` (its id). */
  seal(plaintext: Uint8Array, aad: string): string;
}

/** What the dispatcher needs: opening only. */
export interface Opener {
  /** Opens what `seal` made for the same `aad`; throws `SecretsError('tampered')` otherwise. */
  open(sealed: string, aad: string): Buffer;
}

/** Seals `plaintext` under `key` with a fresh random IV. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: string): string {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Opens a sealed blob; any change to it, the key or `aad` is a `tampered` error. */
export function open(key: Uint8Array, sealed: string, aad: string): Buffer {
  checkKey(key);
  const raw = Buffer.from(sealed, 'base64');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretsError('tampered', `sealed data of ${aad} is too short (${raw.length} bytes)`);
  const iv = raw.subarray(0, IV_BYTES);
  const tag = raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch (err) {
    throw new SecretsError('tampered', `sealed data of ${aad} does not authenticate: it was changed or sealed under another key`, { cause: err });
  }
}

function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new SecretsError('invalid_key', `a sealing key is ${KEY_BYTES} bytes, got ${key.length}`);
}
