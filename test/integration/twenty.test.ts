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

  it("filters see Twenty's shape: composite fields nested, changedFields by field name, and no-op updates sent to none", async () => {
    const [readsFields, byName, readsUpdatedFields] = [await bed.receiver(), await bed.receiver(), await bed.receiver()];
    const setup = bed.setup({
      webhooks: [
        // Decided on two fields, decoded no further for the events it keeps out.
        { targetUrl: readsFields.url, operations: ['person.updated'], filter: 'record.name.firstName == "Ada" && previousRecord.jobTitle != record.jobTitle' },
        { targetUrl: byName.url, operations: ['person.updated'], changedFields: ['name'] },
        // Reading updatedFields as a whole needs the whole records compared.
        { targetUrl: readsUpdatedFields.url, operations: ['person.updated'], filter: '"jobTitle" in updatedFields' },
      ],
    });
    await bed.walhook(setup);
    const personId = seed.persons.get(WORKSPACE_A.id)!;
    const update = (set: string) => bed.db.sql(`UPDATE ${PERSON()} SET ${set} WHERE id = $1`, [personId]);

    await update(`"jobTitle" = "jobTitle"`);
    await update(`"jobTitle" = 'CFO'`);
    await update(`"nameFirstName" = 'Augusta'`);
    // Liveness after what was kept out: one update every webhook takes.
    await update(`"nameFirstName" = 'Ada', "jobTitle" = 'CEO'`);
    await waitForSlotAt(bed.db, setup.slot, await currentWalLsn(bed.db), 'the slot to pass the four updates');
    type PersonBody = { record: { name: { firstName: string }; jobTitle: string }; updatedFields: string[] };
    const bodies = (receiver: typeof readsFields) => receiver.requests.map((request) => request.json as PersonBody);
    await waitFor(() => [readsFields, byName, readsUpdatedFields].every((receiver) => bodies(receiver).some((body) => body.record.jobTitle === 'CEO')), 'the last update at all three webhooks');

    // Deliveries to one endpoint may overtake each other (ordering: none): compared as sets.
    const seen = (receiver: typeof readsFields) =>
      Object.fromEntries(bodies(receiver).map((body) => [`${body.record.name.firstName} ${body.record.jobTitle}`, body.updatedFields]));
    expect(seen(readsFields)).toEqual({ 'Ada CFO': ['jobTitle'], 'Ada CEO': ['name', 'jobTitle'] });
    expect(seen(byName)).toEqual({ 'Augusta CFO': ['name'], 'Ada CEO': ['name', 'jobTitle'] });
    expect(seen(readsUpdatedFields)).toEqual({ 'Ada CFO': ['jobTitle'], 'Ada CEO': ['name', 'jobTitle'] });
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
