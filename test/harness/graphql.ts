/** A GraphQL client for walhook's management API, over real HTTP. */
import type { FieldProblem } from '../../src/api/errors.js';

export interface GraphqlError {
  message: string;
  extensions?: { code?: string; field?: string; fields?: FieldProblem[] };
}

export interface GraphqlResponse<Data = Record<string, unknown>> {
  status: number;
  data: Data | null | undefined;
  errors: GraphqlError[] | undefined;
}

export interface GraphqlClient {
  url: string;
  /** POSTs the document with `token` (the client's own unless given; null sends no Authorization header). */
  request<Data = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<GraphqlResponse<Data>>;
  /** Like request, but throws on any error and returns data. */
  data<Data = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<Data>;
}

export function graphqlClient(baseUrl: string, token: string): GraphqlClient {
  const url = `${baseUrl}/graphql`;
  const client: GraphqlClient = {
    url,
    async request(query, variables, requestToken = token) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (requestToken !== null) headers.authorization = `Bearer ${requestToken}`;
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await response.json()) as { data?: never; errors?: GraphqlError[] };
      return { status: response.status, data: body.data, errors: body.errors };
    },
    async data<Data>(query: string, variables?: Record<string, unknown>) {
      const response = await client.request<Data>(query, variables);
      if (response.errors || !response.data) throw new Error(`GraphQL errors: ${JSON.stringify(response.errors)}`);
      return response.data;
    },
  };
  return client;
}
