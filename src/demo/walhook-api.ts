/**
 * The demo talks to walhook the way an operator would: over HTTP, through
 * /readyz and the GraphQL management API.
 */
import type { PayloadFormat } from '../common/webhook.js';
import type { SignatureScheme } from '../common/verify.js';
import { pause } from './pause.js';

export class DemoApiError extends Error {
  override readonly name = 'DemoApiError';
}

/**
 * Waits until /readyz says walhook leads and streams its slot. A ready
 * standby is not enough: the slot is created only once the instance is
 * elected, and a change committed before that is never decoded.
 */
export async function waitUntilStreaming(apiUrl: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no answer yet';
  while (!signal.aborted) {
    try {
      const response = await fetch(`${apiUrl}/readyz`, { signal });
      const readiness = (await response.json()) as { role?: string; problems?: string[] };
      if (response.ok && readiness.role === 'leader') return;
      lastProblem = response.ok ? `ready as ${readiness.role ?? 'an unknown role'}, not yet leading` : (readiness.problems?.join('; ') ?? `HTTP ${response.status}`);
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    if (Date.now() > deadline) throw new DemoApiError(`walhook was not streaming after ${timeoutMs / 1000} s: ${lastProblem}`);
    await pause(100, signal);
  }
}

export interface CreateWebhookInput {
  targetUrl: string;
  operations: string[];
  description: string;
  format: PayloadFormat;
  signatures: SignatureScheme[];
}

const CREATE_WEBHOOK = /* GraphQL */ `
  mutation CreateWebhook($input: CreateWebhookInput!) {
    createWebhook(input: $input) { id secret }
  }
`;

/** Creates a webhook through the GraphQL API; the answer is the only place its secret is ever shown. */
export async function createWebhook(apiUrl: string, token: string, input: CreateWebhookInput): Promise<{ id: string; secret: string }> {
  const response = await fetch(`${apiUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: CREATE_WEBHOOK, variables: { input } }),
  });
  const body = (await response.json()) as {
    data?: { createWebhook?: { id: string; secret: string | null } };
    errors?: { message: string }[];
  };
  const created = body.data?.createWebhook;
  if (!created?.secret) {
    throw new DemoApiError(`createWebhook failed (HTTP ${response.status}): ${body.errors?.map((e) => e.message).join('; ') ?? 'no secret returned'}`);
  }
  return { id: created.id, secret: created.secret };
}
