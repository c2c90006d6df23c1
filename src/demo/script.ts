/**
 * A stretch of CRM life, as data: each step is one statement a CRM user's
 * click would cause, with the event walhook should turn it into, or an outage
 * of the receiver. Writes go through plain SQL, as Twenty's ORM writes them
 * (`updatedAt` set on every update, soft delete by setting `deletedAt`).
 */
import { randomUUID } from 'node:crypto';
import { pause } from './pause.js';
import { qualified, type DemoTable } from './schema.js';

export interface Statement {
  sql: string;
  params: unknown[];
}

export interface ChangeStep extends Statement {
  kind: 'change';
  narration: string;
  /** The event the statement causes, e.g. `person.updated`. */
  operation: string;
}

export interface OutageStep {
  kind: 'outage';
  narration: string;
  /** How long the receiver answers 503; the script goes on meanwhile. */
  durationMs: number;
}

export type ScriptStep = ChangeStep | OutageStep;

/** Rendered as the SQL `now()`, so a timestamp is the statement's own, not the script's. */
const NOW = Symbol('now()');

function placeholders(values: unknown[], params: unknown[]): string[] {
  return values.map((value) => {
    if (value === NOW) return 'now()';
    params.push(value);
    return `$${params.length}`;
  });
}

function insert(schema: string, table: DemoTable, row: Record<string, unknown>): Statement {
  const params: unknown[] = [];
  const columns = Object.keys(row).map((column) => `"${column}"`);
  const values = placeholders(Object.values(row), params);
  return { sql: `INSERT INTO ${qualified(schema, table)} (${columns.join(', ')}) VALUES (${values.join(', ')})`, params };
}

function update(schema: string, table: DemoTable, id: string, changes: Record<string, unknown>): Statement {
  const params: unknown[] = [id];
  const touched = { ...changes, updatedAt: NOW };
  const values = placeholders(Object.values(touched), params);
  const assignments = Object.keys(touched).map((column, index) => `"${column}" = ${values[index]}`);
  return { sql: `UPDATE ${qualified(schema, table)} SET ${assignments.join(', ')} WHERE id = $1`, params };
}

function destroy(schema: string, table: DemoTable, id: string): Statement {
  return { sql: `DELETE FROM ${qualified(schema, table)} WHERE id = $1`, params: [id] };
}

function change(operation: string, narration: string, statement: Statement): ChangeStep {
  return { kind: 'change', narration, operation, ...statement };
}

export interface ScriptOptions {
  /** How long the receiver fails midway. */
  outageMs: number;
}

export function crmScript(schema: string, { outageMs }: ScriptOptions): ScriptStep[] {
  const id = {
    acme: randomUUID(),
    globex: randomUUID(),
    ana: randomUUID(),
    ben: randomUUID(),
    chloe: randomUUID(),
    deal: randomUUID(),
    note: randomUUID(),
    rex: randomUUID(),
  };
  const company = (row: Record<string, unknown>) => insert(schema, 'company', row);
  const person = (row: Record<string, unknown>) => insert(schema, 'person', row);
  return [
    change('company.created', 'Acme Robotics signs up', company({
      id: id.acme,
      name: 'Acme Robotics',
      domainNamePrimaryLinkUrl: 'https://acme-robotics.example',
      employees: 240,
      annualRecurringRevenueAmountMicros: '4500000000000',
      annualRecurringRevenueCurrencyCode: 'USD',
      addressAddressCity: 'Lyon',
      addressAddressCountry: 'France',
      position: 1,
    })),
    change('company.created', 'Globex is added as a prospect', company({
      id: id.globex,
      name: 'Globex',
      domainNamePrimaryLinkUrl: 'https://globex.example',
      employees: 900,
      addressAddressCity: 'Berlin',
      addressAddressCountry: 'Germany',
      position: 2,
    })),
    change('person.created', 'Ana Lopez joins Acme as Head of Sales', person({
      id: id.ana,
      nameFirstName: 'Ana',
      nameLastName: 'Lopez',
      emailsPrimaryEmail: 'ana@acme-robotics.example',
      emailsAdditionalEmails: JSON.stringify(['ana.lopez@example.org']),
      jobTitle: 'Head of Sales',
      city: 'Lyon',
      companyId: id.acme,
      position: 1,
    })),
    change('person.created', 'Ben Okafor from Globex is added', person({
      id: id.ben,
      nameFirstName: 'Ben',
      nameLastName: 'Okafor',
      emailsPrimaryEmail: 'ben@globex.example',
      jobTitle: 'Engineer',
      city: 'Berlin',
      companyId: id.globex,
      position: 2,
    })),
    change('pet.created', 'Ana registers Rex, the office dog (custom object _pet)', insert(schema, '_pet', {
      id: id.rex,
      name: 'Rex',
      species: 'DOG',
      ownerId: id.ana,
      position: 1,
    })),
    change('opportunity.created', 'A deal opens: 50 robot arms for Acme, $120,000', insert(schema, 'opportunity', {
      id: id.deal,
      name: '50 robot arms',
      amountAmountMicros: '120000000000',
      amountCurrencyCode: 'USD',
      stage: 'NEW',
      companyId: id.acme,
      pointOfContactId: id.ana,
      position: 1,
    })),
    change('note.created', 'Ana writes up her call with Ben', insert(schema, 'note', {
      id: id.note,
      title: 'Call with Ben',
      bodyV2Markdown: 'Globex wants a demo next week.',
      position: 1,
    })),
    change('person.updated', 'Ben is promoted to Staff Engineer', update(schema, 'person', id.ben, { jobTitle: 'Staff Engineer' })),
    {
      kind: 'outage',
      narration: `The receiver goes down for ${outageMs / 1000} s: walhook keeps every delivery and retries`,
      durationMs: outageMs,
    },
    change('opportunity.updated', 'The Acme deal moves to PROPOSAL', update(schema, 'opportunity', id.deal, { stage: 'PROPOSAL' })),
    change('person.created', 'Chloé Martin joins Globex as Designer', person({
      id: id.chloe,
      nameFirstName: 'Chloé',
      nameLastName: 'Martin',
      emailsPrimaryEmail: 'chloe@globex.example',
      jobTitle: 'Designer',
      city: 'Berlin',
      companyId: id.globex,
      position: 3,
    })),
    change('company.updated', 'Globex grows to 1,200 employees', update(schema, 'company', id.globex, { employees: 1200 })),
    change('person.updated', 'Ana becomes VP Sales', update(schema, 'person', id.ana, { jobTitle: 'VP Sales' })),
    change('opportunity.updated', 'Acme signs: the deal is WON', update(schema, 'opportunity', id.deal, { stage: 'WON', closeDate: NOW })),
    change('person.updated', 'Chloé moves to Paris', update(schema, 'person', id.chloe, { city: 'Paris' })),
    change('pet.updated', 'Rex now lives with Chloé', update(schema, '_pet', id.rex, { ownerId: id.chloe })),
    change('person.deleted', 'Ben is deleted by mistake (soft delete: deletedAt is set)', update(schema, 'person', id.ben, { deletedAt: NOW })),
    change('person.restored', '…and restored from the trash (deletedAt cleared)', update(schema, 'person', id.ben, { deletedAt: null })),
    change('note.destroyed', 'The call note is destroyed for good (hard DELETE)', destroy(schema, 'note', id.note)),
  ];
}

export interface ScriptPlayer {
  /** Called as each step begins. */
  narrate(step: ScriptStep): void;
  change(step: ChangeStep): Promise<void>;
  outage(durationMs: number): void;
}

/**
 * Plays `steps` one every `paceMs` until the end, or until `signal` aborts
 * (Ctrl-C, `--duration`). Returns the operations of the changes made.
 */
export async function playScript(steps: readonly ScriptStep[], player: ScriptPlayer, paceMs: number, signal: AbortSignal): Promise<string[]> {
  const played: string[] = [];
  for (const [index, step] of steps.entries()) {
    if (index > 0) await pause(paceMs, signal);
    if (signal.aborted) break;
    player.narrate(step);
    if (step.kind === 'outage') {
      player.outage(step.durationMs);
      continue;
    }
    await player.change(step);
    played.push(step.operation);
  }
  return played;
}
