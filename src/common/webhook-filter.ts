/**
 * A webhook's filters (README.md "Webhook policies"), pure: `changedFields`
 * (an update is sent only when one of these fields changed) and `filter`, a
 * CEL expression over the event. The CEL implementation is
 * @marcbachmann/cel-js: declared variables are type-checked when a filter is
 * compiled, and its parse limits bound what one expression can cost (the
 * size of the data it walks is bounded by the row).
 */
import { isDeepStrictEqual } from 'node:util';
import { Environment, type ParseResult } from '@marcbachmann/cel-js';

/** What a filter sees of an event: the names and values the `record` payload format shows. */
export interface FilterInput {
  record: Record<string, unknown>;
  previousRecord: Record<string, unknown> | null;
  operation: string;
  workspaceId: string | null;
  updatedFields: string[] | null;
}

/** The longest filter accepted, in characters. */
export const MAX_FILTER_LENGTH = 4_000;
/** The most entries `changedFields` takes. */
export const MAX_CHANGED_FIELDS = 100;

/** Parse-time limits: an expression's size and nesting, hence its evaluation cost over a bounded row. */
const CEL_LIMITS = { maxAstNodes: 500, maxDepth: 32, maxListElements: 100, maxMapEntries: 100, maxCallArguments: 8 };

const environment = new Environment({ limits: CEL_LIMITS, enableOptionalTypes: true })
  .registerVariable('record', 'map')
  .registerVariable('previousRecord', 'dyn')
  .registerVariable('operation', 'string')
  .registerVariable('workspaceId', 'dyn')
  .registerVariable('updatedFields', 'dyn');

/** A filter that failed on one event; the event is not sent to that webhook. */
export class FilterEvaluationError extends Error {
  readonly code = 'FILTER_EVALUATION_FAILED';
}

/** A compiled filter: true lets the event through. Throws FilterEvaluationError. */
export type FilterProgram = (input: FilterInput) => boolean;

export type CompiledFilter = { program: FilterProgram; reads: FilterReads } | { problem: string };

/**
 * What a webhook's filters read of an event, so that an event they keep out
 * is decoded no further: the top-level keys of `record` and `previousRecord`
 * they look at (null: the whole records), and whether they read all of
 * `updatedFields` (false: only whether those keys are in it). `operation` and
 * `workspaceId` cost nothing to know.
 */
export interface FilterReads {
  keys: ReadonlySet<string> | null;
  allUpdatedFields: boolean;
}

/** What an unfiltered webhook needs: the whole event. */
export const READS_EVERYTHING: FilterReads = { keys: null, allUpdatedFields: true };

const RECORDS = new Set(['record', 'previousRecord']);

interface AstNode {
  op: string;
  args: unknown;
}

function isNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as AstNode).op === 'string';
}

/** `record` or `previousRecord` itself, not a field of it. */
function isRecordVariable(node: unknown): boolean {
  return isNode(node) && node.op === 'id' && typeof node.args === 'string' && RECORDS.has(node.args);
}

/**
 * The keys an expression reads, from its syntax tree: `record.stage`,
 * `record.?stage`, `has(record.stage)` and `record["stage"]` read `stage`;
 * any other use of `record` or `previousRecord` (`size(record)`, `"x" in
 * record`, `record[name]`) reads the whole record. A comprehension variable
 * that shadows one of the names only makes this read more, never less.
 */
export function filterReadsOf(ast: unknown): FilterReads {
  const keys = new Set<string>();
  let whole = false;
  let allUpdatedFields = false;
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!isNode(value)) return;
    const args = value.args;
    if (Array.isArray(args) && isRecordVariable(args[0])) {
      const key = value.op === '.' || value.op === '.?' ? args[1] : value.op === '[]' || value.op === '[?]' ? literalString(args[1]) : undefined;
      if (typeof key === 'string') {
        keys.add(key);
        return args.slice(2).forEach(visit);
      }
    }
    if (value.op === 'id') {
      if (isRecordVariable(value)) whole = true;
      else if (args === 'updatedFields') allUpdatedFields = true;
      return;
    }
    visit(args);
  };
  visit(ast);
  return { keys: whole ? null : keys, allUpdatedFields };
}

function literalString(node: unknown): string | undefined {
  return isNode(node) && node.op === 'value' && typeof node.args === 'string' ? node.args : undefined;
}

/** What `changedFields` reads: the first segment of each path, and whether it is in `updatedFields`. */
export function changedFieldsReads(changedFields: readonly string[]): FilterReads {
  return { keys: new Set(changedFields.map((field) => field.split('.')[0]!)), allUpdatedFields: false };
}

/** What reading both `a` and `b` takes. */
export function combinedReads(a: FilterReads, b: FilterReads): FilterReads {
  return {
    keys: a.keys === null || b.keys === null ? null : new Set([...a.keys, ...b.keys]),
    allUpdatedFields: a.allUpdatedFields || b.allUpdatedFields,
  };
}

/** The first line of a cel-js error, with the column it points at. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { summary, range } = error as Error & { summary?: string; range?: { start?: number } };
  const text = summary ?? error.message.split('\n')[0] ?? error.message;
  return range?.start === undefined ? text : `${text} (at column ${range.start + 1})`;
}

/** Compiles `expression` once: a syntax or type error, or a result that cannot be a bool, is a problem. */
export function compileFilter(expression: string): CompiledFilter {
  if (expression.trim() === '') return { problem: 'is empty; leave it out (or null) to send every event' };
  if (expression.length > MAX_FILTER_LENGTH) return { problem: `is longer than ${MAX_FILTER_LENGTH} characters` };
  let parsed: ParseResult;
  try {
    parsed = environment.parse(expression);
  } catch (error) {
    return { problem: `is not valid CEL: ${describe(error)}` };
  }
  const checked = parsed.check();
  if (!checked.valid) return { problem: `is not valid CEL: ${describe(checked.error)}` };
  if (checked.type !== 'bool' && checked.type !== 'dyn') return { problem: `must be a bool condition, but its type is ${checked.type}` };
  return {
    reads: filterReadsOf(parsed.ast),
    program: (input) => {
      let result: unknown;
      try {
        result = parsed(input as unknown as Record<string, unknown>);
      } catch (error) {
        throw new FilterEvaluationError(describe(error), { cause: error });
      }
      if (typeof result !== 'boolean') throw new FilterEvaluationError(`the filter gave ${result === null ? 'null' : typeof result}, not a bool`);
      return result;
    },
  };
}

/** Why `changedFields` is not acceptable, or null. */
export function changedFieldsProblem(fields: readonly string[]): string | null {
  if (fields.length > MAX_CHANGED_FIELDS) return `has more than ${MAX_CHANGED_FIELDS} entries`;
  const bad = fields.find((field) => field.split('.').some((segment) => segment.trim() === ''));
  if (bad !== undefined) return `has ${JSON.stringify(bad)}, expected a field name or dotted path such as name or name.firstName`;
  return null;
}

function valueAt(record: Record<string, unknown> | null, path: readonly string[]): unknown {
  let value: unknown = record;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * Whether `changedFields` lets the event in: anything but an update always,
 * an update when one of the fields changed. A top-level name covers what is
 * inside it (`name` covers `name.firstName`, a jsonb column its keys); a
 * dotted path compares the values at that path. An update whose changes are
 * unknown (no old row: REPLICA IDENTITY DEFAULT) is let in, since it may have
 * changed them.
 */
export function changedFieldsAdmit(changedFields: readonly string[], input: FilterInput, action: string): boolean {
  if (changedFields.length === 0 || action !== 'updated' || input.updatedFields === null) return true;
  const updated = input.updatedFields;
  return changedFields.some((field) => {
    const path = field.split('.');
    if (!updated.includes(path[0]!)) return false;
    return path.length === 1 || !isDeepStrictEqual(valueAt(input.previousRecord, path), valueAt(input.record, path));
  });
}
