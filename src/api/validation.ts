/**
 * Checks of what an operator sends, each failure a BAD_USER_INPUT naming the
 * field and the reason; every wrong field of an input is named in one error.
 * The rules are the config file's: the same URL check (http/https, length),
 * the same operation syntax and actions.
 */
import { validate as isUuid } from 'uuid';
import { InvalidOperationError, validateOperations } from '../common/operations.js';
import { secretProblem, SIGNATURE_SCHEMES, type SignatureScheme } from '../common/verify.js';
import { changedFieldsProblem, compileFilter } from '../common/webhook-filter.js';
import { MIN_SECRET_LENGTH, ORDERINGS, PAYLOAD_FORMATS, type Ordering, type PayloadFormat, type WebhookFields } from '../common/webhook.js';
import { InvalidTargetUrlError, validateTargetUrl } from '../delivery/ssrf.js';
import type { DeliveryState } from '../state/deliveries.js';
import { allValid, badUserInput, notFound } from './errors.js';

export const MAX_PAGE_SIZE = 500;
export const DELIVERY_STATES: readonly DeliveryState[] = ['pending', 'retrying', 'delivered', 'dead'];

/** A webhook's fields as given, before any check: the lists may repeat and hold anything. */
export type WebhookFieldsInput = Omit<WebhookFields, 'operations' | 'format' | 'signatures' | 'ordering'> & {
  operations: readonly string[];
  format: string;
  signatures: readonly string[];
  ordering?: string;
};

/** A workspace id as events carry it: Twenty's UUID, or the id a schema name gives. */
const WORKSPACE_ID = /^\S{1,100}$/;

function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw badUserInput(field, `${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
}

/** The fields, or one BAD_USER_INPUT naming every one of them that is wrong. */
export function validateWebhookFields(input: WebhookFieldsInput, maxUrlLength: number): WebhookFields {
  return allValid<WebhookFields>({
    targetUrl: () => validateUrl(input.targetUrl, maxUrlLength),
    operations: () => validateOperationList(input.operations),
    description: () => input.description,
    format: () => oneOf<PayloadFormat>('format', input.format, PAYLOAD_FORMATS),
    signatures: () => validateSignatures(input.signatures),
    workspaceId: () => validateWorkspaceId(input.workspaceId ?? null),
    changedFields: () => validateChangedFields(input.changedFields ?? []),
    filter: () => validateFilter(input.filter ?? null),
    ordering: () => oneOf<Ordering>('ordering', input.ordering ?? 'none', ORDERINGS),
    maxPerSecond: () => validateMaxPerSecond(input.maxPerSecond ?? null),
  });
}

function validateMaxPerSecond(maxPerSecond: number | null): number | null {
  if (maxPerSecond === null) return null;
  if (!Number.isFinite(maxPerSecond) || maxPerSecond <= 0) {
    throw badUserInput('maxPerSecond', `a positive number of requests per second such as 10 or 0.5, or null for no limit; got ${maxPerSecond}`);
  }
  return maxPerSecond;
}

function validateChangedFields(changedFields: readonly string[]): string[] {
  const fields = [...new Set(changedFields.map((field) => field.trim()))];
  const problem = changedFieldsProblem(fields);
  if (problem !== null) throw badUserInput('changedFields', `a list of field names such as ["jobTitle", "stage"]; this one ${problem}`);
  return fields;
}

/** Compiled here only to be checked: the registry compiles the stored text once when it loads the webhook. */
function validateFilter(filter: string | null): string | null {
  if (filter === null) return null;
  const compiled = compileFilter(filter);
  if ('problem' in compiled) throw badUserInput('filter', `the filter ${compiled.problem}`);
  return filter;
}

function validateUrl(targetUrl: string, maxUrlLength: number): string {
  try {
    validateTargetUrl(targetUrl, maxUrlLength);
  } catch (error) {
    if (error instanceof InvalidTargetUrlError) throw badUserInput('targetUrl', error.message);
    throw error;
  }
  return targetUrl;
}

function validateOperationList(operations: readonly string[]): string[] {
  if (operations.length === 0) throw badUserInput('operations', 'at least one operation is required, such as person.created or company.*');
  try {
    validateOperations(operations);
  } catch (error) {
    if (error instanceof InvalidOperationError) throw badUserInput('operations', error.message);
    throw error;
  }
  return [...new Set(operations)];
}

function validateSignatures(signatures: readonly string[]): SignatureScheme[] {
  if (signatures.length === 0) throw badUserInput('signatures', `at least one of ${SIGNATURE_SCHEMES.join(', ')} is required`);
  return [...new Set(signatures.map((scheme) => oneOf<SignatureScheme>('signatures', scheme, SIGNATURE_SCHEMES)))];
}

function validateWorkspaceId(workspaceId: string | null): string | null {
  if (workspaceId === null) return null;
  if (!WORKSPACE_ID.test(workspaceId)) {
    throw badUserInput('workspaceId', 'a workspace id such as 20202020-1c25-4d02-bf25-6aeccf7ea419 (no spaces), or null for every workspace');
  }
  return workspaceId;
}

export function validateSecret(secret: string): string {
  if (secret.length < MIN_SECRET_LENGTH) throw badUserInput('secret', `at least ${MIN_SECRET_LENGTH} characters are required`);
  const problem = secretProblem(secret);
  if (problem !== undefined) throw badUserInput('secret', problem);
  return secret;
}

/** Ids are UUIDs; anything else names nothing that exists. */
export function validateId(kind: 'webhook' | 'delivery', id: string): string {
  if (!isUuid(id)) throw notFound(kind, id);
  return id.toLowerCase();
}

export function validateDeliveryState(state: string): DeliveryState {
  return oneOf('status', state, DELIVERY_STATES);
}

export function validatePageSize(first: number): number {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw badUserInput('first', `a whole number from 1 to ${MAX_PAGE_SIZE} is required, got ${first}`);
  }
  return first;
}
