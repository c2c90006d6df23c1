import { describe, expect, it } from 'vitest';
import { badUserInput, invalidFields, notFound } from '../../../src/api/errors.js';
import { GraphqlExecutor, parseGraphqlRequest } from '../../../src/api/graphql.js';
import { Management } from '../../../src/api/management.js';
import type { StateDb } from '../../../src/state/db.js';
import { createLogger } from '../../../src/common/log.js';

/** Only the operations a test calls; the executor never touches the rest. */
function executorWith(operations: Partial<Record<keyof Management, (...args: never[]) => unknown>>): GraphqlExecutor {
  return new GraphqlExecutor(operations as unknown as Management, createLogger('silent'));
}

describe('parseGraphqlRequest', () => {
  it('takes query, variables and operationName', () => {
    expect(parseGraphqlRequest('{"query":"{ webhooks { id } }","variables":{"a":1},"operationName":"X"}')).toEqual({
      query: '{ webhooks { id } }',
      variables: { a: 1 },
      operationName: 'X',
    });
  });

  it.each([
    ['{', 'the body is not JSON'],
    ['[]', 'the body must be a JSON object with a "query" string'],
    ['{"query":1}', 'the body must be a JSON object with a "query" string'],
    ['{"query":"{}","variables":[1]}', '"variables" must be an object'],
    ['{"query":"{}","operationName":2}', '"operationName" must be a string'],
  ])('refuses %s', (body, reason) => {
    expect(parseGraphqlRequest(body)).toBe(reason);
  });
});

describe('GraphqlExecutor', () => {
  it('passes arguments to the operation and returns its answer', async () => {
    const calls: unknown[] = [];
    const executor = executorWith({
      getWebhook: (id: string) => {
        calls.push(id);
        return { id, operations: ['person.*'] };
      },
    });
    const result = await executor.run({ query: 'query ($id: ID!) { webhook(id: $id) { id operations } }', variables: { id: 'w1' } });
    expect(result).toEqual({ status: 200, body: { data: { webhook: { id: 'w1', operations: ['person.*'] } } } });
    expect(calls).toEqual(['w1']);
  });

  it('puts the code and field of management errors in extensions', async () => {
    const executor = executorWith({
      getWebhook: () => Promise.reject(notFound('webhook', 'w1')),
      createWebhook: () => Promise.reject(badUserInput('targetUrl', 'no')),
    });
    const missing = await executor.run({ query: '{ webhook(id: "w1") { id } }' });
    expect(missing.body).toEqual({
      data: { webhook: null },
      errors: [{ message: 'no webhook with id "w1"', locations: [{ line: 1, column: 3 }], path: ['webhook'], extensions: { code: 'NOT_FOUND' } }],
    });
    const bad = await executor.run({ query: 'mutation { createWebhook(input: {targetUrl: "x", operations: []}) { id } }' });
    expect(bad.body).toMatchObject({
      data: null,
      errors: [{ message: 'targetUrl: no', extensions: { code: 'BAD_USER_INPUT', field: 'targetUrl', fields: [{ field: 'targetUrl', reason: 'no' }] } }],
    });
  });

  it('lists every field of one BAD_USER_INPUT in extensions.fields', async () => {
    const problems = [
      { field: 'targetUrl', reason: 'not a URL' },
      { field: 'operations', reason: 'at least one is required' },
    ];
    const executor = executorWith({ createWebhook: () => Promise.reject(invalidFields(problems)) });
    const bad = await executor.run({ query: 'mutation { createWebhook(input: {targetUrl: "x", operations: []}) { id } }' });
    expect(bad.body).toMatchObject({
      data: null,
      errors: [
        {
          message: 'targetUrl: not a URL; operations: at least one is required',
          extensions: { code: 'BAD_USER_INPUT', field: 'targetUrl', fields: problems },
        },
      ],
    });
    expect((bad.body as { errors: unknown[] }).errors).toHaveLength(1);
  });

  it('masks unexpected errors', async () => {
    const executor = executorWith({ listWebhooks: () => Promise.reject(new Error('connection to 10.0.0.5 refused, password=hunter2')) });
    const result = await executor.run({ query: '{ webhooks { id } }' });
    expect(result.body).toMatchObject({ data: null, errors: [{ message: 'internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
    expect(JSON.stringify(result.body)).not.toMatch(/hunter2|10\.0\.0\.5/);
  });

  it('answers 400 to documents that cannot run', async () => {
    const executor = executorWith({});
    expect(await executor.run({ query: '{ webhooks {' })).toMatchObject({ status: 400, body: { errors: [{ extensions: { code: 'GRAPHQL_PARSE_FAILED' } }] } });
    expect(await executor.run({ query: '{ nothing }' })).toMatchObject({
      status: 400,
      body: { errors: [{ message: 'Cannot query field "nothing" on type "Query".', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] },
    });
  });

  it('reports a variable of the wrong type as BAD_USER_INPUT', async () => {
    const result = await executorWith({}).run({ query: 'query ($first: Int) { deliveries(first: $first) { nodes { id } } }', variables: { first: 'ten' } });
    expect(result.body).toMatchObject({ data: null, errors: [{ extensions: { code: 'BAD_USER_INPUT' } }] });
  });
});

describe('GraphqlExecutor query limits', () => {
  const DELIVERY_PAGE =
    'edges { cursor node { id eventId webhookId operation state attempts lastStatus lastError lastDurationMs deadReason nextAttemptAt createdAt updatedAt attemptHistory { attempt attemptedAt status error durationMs } } } pageInfo { hasNextPage endCursor }';

  function counting() {
    let calls = 0;
    const executor = executorWith({
      listObjects: () => {
        calls++;
        return ['person'];
      },
      listActions: () => ['created'],
      listDeliveries: () => ({ edges: [], nodes: [], pageInfo: { hasNextPage: false, endCursor: null } }),
    });
    return { executor, calls: () => calls };
  }

  async function refusal(query: string): Promise<{ status: number; messages: string[]; codes: string[] }> {
    const { executor, calls } = counting();
    const result = (await executor.run({ query })) as { status: number; body: { errors?: { message: string; extensions: { code: string } }[] } };
    expect(calls(), 'a refused document must run no resolver').toBe(0);
    const errors = result.body.errors ?? [];
    return { status: result.status, messages: errors.map((e) => e.message), codes: errors.map((e) => e.extensions.code) };
  }

  it('refuses 400 aliases of objects before running any (one catalog query per alias before)', async () => {
    const query = `{ ${Array.from({ length: 400 }, (_, i) => `a${i}: objects`).join(' ')} }`;
    const refused = await refusal(query);
    expect(refused.status).toBe(400);
    expect(refused.codes).toContain('GRAPHQL_VALIDATION_FAILED');
    expect(refused.messages.join(' ')).toMatch(/Aliases limit of 15 exceeded/);
  });

  it('refuses a document of more tokens than the limit at parse time', async () => {
    const query = `{ ${'objects '.repeat(5_000)} }`;
    const refused = await refusal(query);
    expect(refused).toMatchObject({ status: 400, codes: ['GRAPHQL_PARSE_FAILED'] });
    expect(refused.messages[0]).toMatch(/more that 2000 tokens/);
  });

  it('refuses a document deeper than the limit, counting fragments as written out', async () => {
    const refused = await refusal('{ __type(name: "Query") { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } }');
    expect(refused.status).toBe(400);
    expect(refused.messages.join(' ')).toMatch(/Query depth limit of 6 exceeded, found 8/);
    const deepest = '{ deliveries { ... on DeliveryConnection { edges { ... on DeliveryEdge { node { attemptHistory { attempt } } } } } } }';
    expect((await counting().executor.run({ query: deepest })).status).toBe(200);
  });

  it('refuses the cost of two full pages of 500 deliveries, accepts one', async () => {
    const one = `{ deliveries(first: 500) { ${DELIVERY_PAGE} } }`;
    const two = `{ a: deliveries(first: 500) { ${DELIVERY_PAGE} } b: deliveries(first: 500) { ${DELIVERY_PAGE} } }`;
    expect((await counting().executor.run({ query: one })).status).toBe(200);
    const refused = await refusal(two);
    expect(refused.status).toBe(400);
    expect(refused.messages.join(' ')).toMatch(/Query Cost limit of 50000 exceeded/);
    expect(refused.messages.join(' ')).not.toMatch(/Syntax Error/);
  });

  it('accepts what the console sends: three aliases and nested fields', async () => {
    const { executor } = counting();
    const query = `{ objects actions a: deliveries(status: pending) { nodes { id } } b: deliveries(status: dead) { nodes { id } } c: deliveries { ${DELIVERY_PAGE} } }`;
    expect((await executor.run({ query })).status).toBe(200);
  });
});

describe('Management.listObjects', () => {
  it('reads the catalog once for concurrent and repeated calls, and again after a failed read', async () => {
    let reads = 0;
    let fail = true;
    const management = new Management({} as StateDb, { secretBox: null, maxUrlLength: 2048, maxPayloadBytes: 1024 ** 2, secretRotationOverlapMs: 0 }, {
      objectsInScope: async () => {
        reads++;
        if (fail) throw new Error('catalog unreachable');
        return ['person', 'company', 'person'];
      },
    });
    await expect(management.listObjects()).rejects.toThrow('catalog unreachable');
    fail = false;
    const answers = await Promise.all(Array.from({ length: 50 }, () => management.listObjects()));
    expect(answers.every((names) => names.join() === 'company,person')).toBe(true);
    expect(await management.listObjects()).toEqual(['company', 'person']);
    expect(reads).toBe(2);
  });
});
