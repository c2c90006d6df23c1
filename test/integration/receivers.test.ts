/**
 * Bodies from renderBody, signed by signRequest, POSTed over real HTTP to
 * receivers written the way their authors are told to write them: the two
 * Node recipes of Twenty's docs (which verify a re-serialised parse, not the
 * raw body), the standardwebhooks package, and our verifyWebhook.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import type { ChangeEvent } from '../../src/events/types.js';
import { PAYLOAD_FORMATS, type PayloadFormat } from '../../src/common/webhook.js';
import { prepareEventJson, renderBody } from '../../src/delivery/payload.js';
import { SIGNATURE_SCHEMES, type SignatureScheme } from '../../src/common/verify.js';
import { signRequest } from '../../src/delivery/signing.js';
import { verifyWebhook } from '../../src/common/verify.js';

const secret = randomBytes(32).toString('hex');

/** Throws or returns false when the request does not verify. */
type Recipe = (rawBody: Buffer, headers: IncomingHttpHeaders) => boolean;

/** The Node example of Twenty's user docs (seed 001), behind an express.json()-like parser. */
const twentyWebhookRecipe: Recipe = (rawBody, headers) => {
  const reqBody: unknown = JSON.parse(rawBody.toString('utf8'));
  const timestamp = headers['x-twenty-webhook-timestamp'];
  const payload = JSON.stringify(reqBody);
  const stringToSign = `${timestamp}:${payload}`;
  const expectedSignature = createHmac('sha256', secret).update(stringToSign).digest('hex');
  const receivedSignature = String(headers['x-twenty-webhook-signature']);
  return timingSafeEqual(Buffer.from(expectedSignature, 'hex'), Buffer.from(receivedSignature, 'hex'));
};

/** `verifyWebhookSignature` of Twenty's developer docs (seed 002), behind an express.json()-like parser. */
const twentySignatureRecipe: Recipe = (rawBody, headers) => {
  const payload: unknown = JSON.parse(rawBody.toString('utf8'));
  const signature = String(headers['x-twenty-signature']);
  const timestamp = Number(headers['x-twenty-timestamp']);
  const currentTime = Math.floor(Date.now() / 1000);
  if (currentTime - timestamp > 300) return false;
  const signedPayload = `${timestamp}.${JSON.stringify(payload)}`;
  const expectedSignature = createHmac('sha256', secret).update(signedPayload).digest('hex');
  return timingSafeEqual(Buffer.from(signature), Buffer.from(`sha256=${expectedSignature}`));
};

const standardWebhooksLibrary: Recipe = (rawBody, headers) => {
  new Webhook(secret, { format: 'raw' }).verify(rawBody, headers as Record<string, string>);
  return true;
};

const walhookVerify: Recipe = (rawBody, headers) => {
  verifyWebhook({ body: rawBody, headers, secret });
  return true;
};

const recipeFor: Record<SignatureScheme, Recipe> = {
  'twenty-legacy': twentyWebhookRecipe,
  twenty: twentySignatureRecipe,
  standard: standardWebhooksLibrary,
};

interface Receiver {
  url: string;
  close(): Promise<void>;
}

/** Answers 204 when the recipe verifies the request, else 401. */
async function startReceiver(recipe: Recipe): Promise<Receiver> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let verified = false;
      try {
        verified = recipe(Buffer.concat(chunks), req.headers);
      } catch {
        verified = false;
      }
      res.writeHead(verified ? 204 : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    close: () => new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

const row = {
  id: '5e2f7c1a-9b3d-4f6e-8a0c-2d4b6f8e0a1c',
  name: 'Ada',
  revenue: '9223372036854775807',
  aboveSafeInteger: '9007199254740993',
  price: '1.50',
  bio: 'Zoë 日本 👩‍💻 </script><script> \u2028\u2029 "q" \\ \n\t\u0000',
  '7': 'integer-like key',
  settings: { theme: { colours: ['#fff', null, { alpha: 0.5 }] }, 'ü': [[], {}] },
};

function personEvent(action: 'created' | 'updated'): ChangeEvent {
  const updated = action === 'updated';
  const committedAt = Date.now();
  return {
    id: `0/16B3748:${action}`,
    object: 'person',
    action,
    operation: `person.${action}`,
    workspaceId: '20202020-1c25-4d02-bf25-6aeccf7ea419',
    schema: 'workspace_1q2w3e',
    table: 'person',
    record: row,
    previousRecord: updated ? { ...row, name: 'Ada L.', price: '1.5' } : null,
    updatedFields: updated ? ['name', 'price'] : null,
    unavailableFields: updated ? ['photo'] : [],
    recordKey: null,
    commitLsn: 0x16b3748n,
    commitLsnText: '0/16B3748',
    changeLsn: 0x16b3700n,
    changeLsnText: '0/16B3700',
    commitTime: new Date(committedAt).toISOString(),
    commitTimeMs: committedAt,
  };
}

const receivers = new Map<Recipe, Receiver>();

beforeAll(async () => {
  for (const recipe of [...Object.values(recipeFor), walhookVerify]) receivers.set(recipe, await startReceiver(recipe));
});

afterAll(async () => {
  await Promise.all([...receivers.values()].map((receiver) => receiver.close()));
});

function receiver(recipe: Recipe): Receiver {
  const found = receivers.get(recipe);
  if (!found) throw new Error('receiver not started');
  return found;
}

/** POSTs a body rendered for the receiver's URL and signed now; returns the HTTP status. */
async function deliver(
  recipe: Recipe,
  event: ChangeEvent,
  format: PayloadFormat,
  schemes: readonly SignatureScheme[],
  tamper: (body: string) => string = (body) => body,
): Promise<number> {
  const { url } = receiver(recipe);
  const deliveryId = `${event.id}:wh-1`;
  const body = renderBody(prepareEventJson(event), { id: 'wh-1', targetUrl: url, format }, deliveryId);
  const headers = signRequest({ body, deliveryId, secrets: [secret], schemes, now: new Date() });
  const response = await fetch(url, { method: 'POST', headers, body: tamper(body) });
  return response.status;
}

const tamper = (body: string): string => {
  const tampered = body.replace('"name":"Ada"', '"name":"Eve"');
  expect(tampered).not.toBe(body);
  return tampered;
};

describe('receivers verify every format signed with every scheme', () => {
  for (const format of PAYLOAD_FORMATS) {
    for (const action of ['created', 'updated'] as const) {
      for (const scheme of SIGNATURE_SCHEMES) {
        it(`${format} body of person.${action}, ${scheme} signature`, async () => {
          const event = personEvent(action);
          expect(await deliver(recipeFor[scheme], event, format, [scheme])).toBe(204);
          expect(await deliver(walhookVerify, event, format, [scheme])).toBe(204);
        });
      }

      it(`${format} body of person.${action} signed with all schemes at once`, async () => {
        for (const recipe of receivers.keys()) {
          expect(await deliver(recipe, personEvent(action), format, SIGNATURE_SCHEMES)).toBe(204);
        }
      });
    }
  }
});

describe('receivers refuse a tampered body', () => {
  for (const format of PAYLOAD_FORMATS) {
    for (const scheme of SIGNATURE_SCHEMES) {
      it(`${format} body, ${scheme} signature`, async () => {
        const event = personEvent('updated');
        expect(await deliver(recipeFor[scheme], event, format, [scheme], tamper)).toBe(401);
        expect(await deliver(walhookVerify, event, format, [scheme], tamper)).toBe(401);
      });
    }
  }
});
