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
import {
  BATCH_DEFAULTS,
  BATCH_LIMITS,
  batchMaxBytesProblem,
  MIN_SECRET_LENGTH,
  ORDERINGS,
  PAYLOAD_FORMATS,
  type BatchPolicy,
  type Ordering,
  type PayloadFormat,
  type WebhookFields,
} from '../common/webhook.js';
import { DURATION_FORMAT, formatDuration, parseDuration } from '../config/units.js';
import { InvalidTargetUrlError, validateTargetUrl } from '../delivery/ssrf.js';
import type { DeliveryState } from '../state/deliveries.js';
import { allValid, badUserInput, notFound } from './errors.js';

export const MAX_PAGE_SIZE = 500;
export const DELIVERY_STATES: readonly DeliveryState[] = ['pending', 'retrying', 'delivered', 'dead'];

/** A webhook's fields as given, before any check: the lists may repeat and hold anything. */
export type WebhookFieldsInput = Omit<WebhookFields, 'operations' | 'format' | 'signatures' | 'ordering' | 'batch'> & {
  operations: readonly string[];
  format: string;
  signatures: readonly string[];
  ordering?: string;
  batch?: BatchInput | null;
};

/** A batch policy as given: a field left out (or null) takes its default; `linger` is a duration text or milliseconds. */
export interface BatchInput {
  maxEvents?: number | null;
  maxBytes?: number | null;
  linger?: string | number | null;
}

/** A workspace id as events carry it: Twenty's UUID, or the id a schema name gives. */
const WORKSPACE_ID = /^\S{1,100}$/;

function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw badUserInput(field, `${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
}

/** What a webhook's fields are checked against that the delivery settings decide (`delivery.*` of the config). */
export interface WebhookLimits {
  maxUrlLength: number;
  maxPayloadBytes: number;
}

/** The fields, or one BAD_USER_INPUT naming every one of them that is wrong. */
export function validateWebhookFields(input: WebhookFieldsInput, limits: WebhookLimits): WebhookFields {
  return allValid<WebhookFields>({
    targetUrl: () => validateUrl(input.targetUrl, limits.maxUrlLength),
    operations: () => validateOperationList(input.operations),
    description: () => input.description,
    format: () => oneOf<PayloadFormat>('format', input.format, PAYLOAD_FORMATS),
    signatures: () => validateSignatures(input.signatures),
    workspaceId: () => validateWorkspaceId(input.workspaceId ?? null),
    changedFields: () => validateChangedFields(input.changedFields ?? []),
    filter: () => validateFilter(input.filter ?? null),
    ordering: () => oneOf<Ordering>('ordering', input.ordering ?? 'none', ORDERINGS),
    maxPerSecond: () => validateMaxPerSecond(input.maxPerSecond ?? null),
    batch: () => validateBatch(input.batch ?? null, input.ordering ?? 'none', limits.maxPayloadBytes),
  });
}

/** The policy with its defaults filled in, or one BAD_USER_INPUT naming each wrong field as `batch.<field>`. */
export function validateBatch(batch: BatchInput | null, ordering: string, maxPayloadBytes: number): BatchPolicy | null {
  if (batch === null) return null;
  if (ordering === 'record') throw badUserInput('batch', 'null while ordering is record (batching and per-record ordering are not combined yet)');
  return allValid<BatchPolicy>({
    maxEvents: () => wholeNumberIn('batch.maxEvents', batch.maxEvents ?? BATCH_DEFAULTS.maxEvents, BATCH_LIMITS.maxEvents, 'events'),
    maxBytes: () => validateBatchMaxBytes(batch.maxBytes ?? BATCH_DEFAULTS.maxBytes, maxPayloadBytes),
    linger: () => wholeNumberIn('batch.linger', lingerMs(batch.linger ?? BATCH_DEFAULTS.linger), BATCH_LIMITS.linger, 'ms'),
  });
}

function validateBatchMaxBytes(maxBytes: number, maxPayloadBytes: number): number {
  wholeNumberIn('batch.maxBytes', maxBytes, BATCH_LIMITS.maxBytes, 'bytes');
  const problem = batchMaxBytesProblem(maxBytes, maxPayloadBytes);
  if (problem !== null) throw badUserInput('batch.maxBytes', `${problem}; got ${maxBytes}`);
  return maxBytes;
}

/** `given` over the current policy: a field it leaves out (or null) keeps its current value. */
export function batchOver(current: BatchPolicy | null, given: BatchInput): BatchInput {
  return {
    maxEvents: given.maxEvents ?? current?.maxEvents,
    maxBytes: given.maxBytes ?? current?.maxBytes,
    linger: given.linger ?? current?.linger,
  };
}

function lingerMs(linger: string | number): number {
  try {
    return parseDuration(linger);
  } catch {
    throw badUserInput('batch.linger', `a ${DURATION_FORMAT}, at most ${formatDuration(BATCH_LIMITS.linger.max)}; got ${JSON.stringify(linger)}`);
  }
}

function wholeNumberIn(field: string, value: number, { min, max }: { min: number; max: number }, unit: string): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw badUserInput(field, `a whole number of ${unit} from ${min} to ${max}; got ${value}`);
  }
  return value;
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
