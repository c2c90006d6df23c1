import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, SecretBoxError } from '../../../src/state/secret-box.js';

const key = randomBytes(32);
const box = createSecretBox(key);
const secret = 'f3a1c9e0b6d24c7e8a5f01b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2';
const webhookId = '3f1c8a52-6a7e-4b0e-9d55-2a1f1f0e7c11';

describe('secret box', () => {
  it('seals to v1:<iv>:<tag>:<ciphertext> in base64, without the secret in clear, and opens again', () => {
    const sealed = box.seal(secret, webhookId);
    const [version, iv, tag, ciphertext] = sealed.split(':');
    expect(version).toBe('v1');
    expect(Buffer.from(iv!, 'base64')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64')).toHaveLength(16);
    expect(Buffer.from(ciphertext!, 'base64')).toHaveLength(Buffer.byteLength(secret));
    expect(sealed).not.toContain(secret);
    expect(box.open(sealed, webhookId)).toBe(secret);
  });

  it('uses a fresh nonce each time', () => {
    expect(box.seal(secret, webhookId)).not.toBe(box.seal(secret, webhookId));
  });

  it('keeps non-ASCII secrets intact', () => {
    expect(box.open(box.seal('clé secrète 🔑 ünïcode', webhookId), webhookId)).toBe('clé secrète 🔑 ünïcode');
  });

  it('does not open under another key', () => {
    const sealed = box.seal(secret, webhookId);
    expect(() => createSecretBox(randomBytes(32)).open(sealed, webhookId)).toThrow(SecretBoxError);
  });

  it("does not open as another webhook's secret", () => {
    const sealed = box.seal(secret, webhookId);
    expect(() => box.open(sealed, '00000000-0000-4000-8000-000000000000')).toThrow(/does not decrypt/);
  });

  it('detects an altered ciphertext or tag', () => {
    const [version, iv, tag, ciphertext] = box.seal(secret, webhookId).split(':') as [string, string, string, string];
    const flipped = (text: string) => {
      const bytes = Buffer.from(text, 'base64');
      bytes[0]! ^= 1;
      return bytes.toString('base64');
    };
    expect(() => box.open([version, iv, tag, flipped(ciphertext)].join(':'), webhookId)).toThrow(SecretBoxError);
    expect(() => box.open([version, iv, flipped(tag), ciphertext].join(':'), webhookId)).toThrow(SecretBoxError);
  });

  it.each(['plain text', 'v2:a:b:c', 'v1:a:b', 'v1:a:b:c:d'])('refuses %j as a sealed secret', (text) => {
    expect(() => box.open(text, webhookId)).toThrow(/not a sealed secret of format v1/);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => createSecretBox(randomBytes(16))).toThrow(/must be 32 bytes, got 16/);
  });
});
