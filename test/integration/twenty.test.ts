/**
 * walhook on a Twenty database: records shaped from Twenty's metadata, its
 * event rules, and metadata followed without a restart.
 */
import { describe, expect, it } from 'vitest';
import { qualified } from '../../src/demo/schema.js';
import { currentWalLsn, useCrmTestBed, waitForSlotAt } from '../harness/crm.js';
import { waitFor } from '../harness/receiver.js';
import { addCustomField, createTwentyDatabase, objectMetadataId, WORKSPACE_A, type TwentySeed } from '../harness/twenty.js';

let seed: TwentySeed;
const bed = useCrmTestBed('twenty', async (db) => {
  seed = await createTwentyDatabase(db);
});
const PERSON = () => qualified(WORKSPACE_A.schema, 'person');

describe('walhook on a Twenty database', () => {
  it("sends records nested as Twenty's server does, Twenty's updatedFields, and no event for an update that changes nothing", async () => {
    const receiver = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: receiver.url, operations: ['person.*'], format: 'twenty' }] });
    await bed.walhook(setup);
    const personId = seed.persons.get(WORKSPACE_A.id)!;

    await bed.db.sql(`UPDATE ${PERSON()} SET "jobTitle" = "jobTitle" WHERE id = $1`, [personId]);
    await bed.db.sql(`UPDATE ${PERSON()} SET "jobTitle" = 'CTO', "updatedAt" = now() WHERE id = $1`, [personId]);
    // Once the slot is confirmed past both, every delivery they caused has settled: a no-op event would be here.
    await waitForSlotAt(bed.db, setup.slot, await currentWalLsn(bed.db), 'the slot to pass both updates');
    const [first] = receiver.requests;
    expect(receiver.requests).toHaveLength(1);
    expect(first!.verificationError).toBeNull();
    const body = first!.json as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- a body read field by field;
    expect(Object.keys(body)).toEqual(['targetUrl', 'eventName', 'objectMetadata', 'workspaceId', 'webhookId', 'eventDate', 'record', 'updatedFields']);
    expect(body.eventName).toBe('person.updated');
    expect(body.objectMetadata).toEqual({ id: await objectMetadataId(bed.db, WORKSPACE_A, 'person'), nameSingular: 'person' });
    expect(body.workspaceId).toBe(WORKSPACE_A.id);
    expect(body.updatedFields).toEqual(['jobTitle']);
    expect(body.record.name).toEqual({ firstName: 'Ada', lastName: 'Lovelace' });
    expect(body.record.emails).toEqual({ primaryEmail: 'ada@acme.example', additionalEmails: null });
    expect(body.record.createdBy).toEqual({ source: 'MANUAL', workspaceMemberId: null, name: '', context: null });
    expect(body.record.companyId).toBe(seed.companies.get(WORKSPACE_A.id));
    expect(body.record).not.toHaveProperty('nameFirstName');
    expect(body.record).not.toHaveProperty('company');
    expect(body.record.updatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(body.eventDate).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('shows a custom field added in Twenty (column and fieldMetadata row) nested in events, without a restart', async () => {
    const receiver = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: receiver.url, operations: ['company.updated'], format: 'record' }] });
    await bed.walhook(setup);
    const companyId = seed.companies.get(WORKSPACE_A.id)!;
    await addCustomField(bed.db, WORKSPACE_A, 'company', 'company', {
      name: 'funding',
      type: 'CURRENCY',
      columns: `"fundingAmountMicros" numeric, "fundingCurrencyCode" text`,
    });
    // Written until one arrives with the new field: the metadata is followed, not read once.
    let round = 0;
    await waitFor(
      async () => {
        round += 1;
        await bed.db.sql(
          `UPDATE ${qualified(WORKSPACE_A.schema, 'company')} SET "fundingAmountMicros" = $2, "fundingCurrencyCode" = 'EUR' WHERE id = $1`,
          [companyId, 1_500_000 * round],
        );
        return receiver.requests.some((r) => (r.json.record as Record<string, unknown>)?.funding !== undefined);
      },
      'a company update carrying the new custom field nested',
      20_000,
      1_000,
    );
    const withField = receiver.requests.find((r) => (r.json.record as Record<string, unknown>)?.funding !== undefined)!;
    const record = withField.json.record as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- a body read field by field;
    expect(record.funding).toEqual({ amountMicros: expect.any(Number), currencyCode: 'EUR' });
    expect(record).not.toHaveProperty('fundingAmountMicros');
    expect(withField.json.updatedFields).toEqual(expect.arrayContaining(['funding']));
  });
});
