/**
 * Webhook secrets at rest: AES-256-GCM under `encryptionKey`.
 *
 * A sealed secret is text, `v1:<iv>:<tag>:<ciphertext>` (base64 parts), so a
 * later format can sit beside it. The webhook id is bound in as associated
 * data: a ciphertext copied onto another webhook's row does not open there.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
/** 96-bit nonces are what GCM is specified for; random ones are safe far beyond any count of secrets. */
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
}

export interface SecretBox {
  /** Encrypts `secret` for the webhook `context` (its id). */
  seal(secret: string, context: string): string;
  /** Decrypts what `seal` produced for the same context; throws SecretBoxError otherwise. */
  open(sealed: string, context: string): string;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== KEY_BYTES) {
    throw new SecretBoxError(`the encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
  }
  return {
    seal(secret, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
      return [VERSION, ...[iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64'))].join(':');
    },
    open(sealed, context) {
      const [version, iv, tag, ciphertext, ...rest] = sealed.split(':');
      if (version !== VERSION || iv === undefined || tag === undefined || ciphertext === undefined || rest.length > 0) {
        throw new SecretBoxError(`not a sealed secret of format ${VERSION}`);
      }
      try {
        const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(iv, 'base64'), { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretBoxError('the secret does not decrypt with this key (a different encryptionKey, or altered data)');
      }
    },
  };
}
