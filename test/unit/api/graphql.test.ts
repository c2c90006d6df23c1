import { describe, expect, it } from 'vitest';
import { badUserInput, notFound } from '../../../src/api/errors.js';
import { GraphqlExecutor, parseGraphqlRequest } from '../../../src/api/graphql.js';
import type { Management } from '../../../src/api/management.js';
import { createLogger } from '../../../src/log.js';

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
    expect(bad.body).toMatchObject({ data: null, errors: [{ message: 'targetUrl: no', extensions: { code: 'BAD_USER_INPUT', field: 'targetUrl' } }] });
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
