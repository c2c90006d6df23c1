/**
 * POST /graphql: bearer auth, then graphql-js (parse, validate, execute).
 *
 * Every error carries `extensions.code`: UNAUTHENTICATED (HTTP 401),
 * GRAPHQL_PARSE_FAILED and GRAPHQL_VALIDATION_FAILED (HTTP 400; also a
 * document beyond QUERY_LIMITS: tokens, aliases, depth, cost),
 * BAD_USER_INPUT (with `extensions.fields`: every input field at fault and
 * why), NOT_FOUND and FAILED_PRECONDITION from the operations, and
 * INTERNAL_SERVER_ERROR for anything unexpected, whose details are logged,
 * never sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { execute, GraphQLError, parse, specifiedRules, validate, type ExecutionResult, type GraphQLSchema, type ValidationContext } from 'graphql';
import type { Logger } from '../common/log.js';
import { bearerAuth } from './auth.js';
import { ManagementError, type FieldProblem } from './errors.js';
import type { Management } from './management.js';
import { createManagementSchema, managementRoot } from './schema.js';
import { PayloadTooLargeError, readBody, sendJson, type Route } from './server.js';

const MAX_REQUEST_BYTES = 1024 * 1024;

/**
 * What one document may ask for, so that a token holder cannot multiply work
 * (each alias of a field runs its resolver again). The console's largest
 * document (the webhook activity page) has 3 aliases, depth 3, cost 118 and
 * about 130 tokens; these leave room for scripts and stop amplification.
 * The cost is graphql-armor's: 1 per scalar, 2 per object, x1.5 per level,
 * times a literal `first`; fragments count as if written out. A full page of 500 deliveries with every field
 * and their attempt history costs about 47,600, two of them are refused.
 */
export const QUERY_LIMITS = { maxTokens: 2_000, maxAliases: 15, maxDepth: 6, maxCost: 50_000 } as const;

/**
 * graphql-armor's rules throw their refusal, which aborts validation; handed
 * to reportError instead it becomes one validation error among the others.
 * Its message starts "Syntax Error:", which it is not.
 */
const reportRefusal = {
  propagateOnRejection: false,
  onReject: [
    (context: ValidationContext | null, error: GraphQLError) =>
      context?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ''))),
  ],
};

const QUERY_LIMIT_RULES = [
  ...specifiedRules,
  maxAliasesRule({ n: QUERY_LIMITS.maxAliases, ...reportRefusal }),
  maxDepthRule({ n: QUERY_LIMITS.maxDepth, flattenFragments: true, ...reportRefusal }),
  costLimitRule({ maxCost: QUERY_LIMITS.maxCost, flattenFragments: true, ...reportRefusal }),
];

export interface GraphqlRequest {
  query: string;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

interface ErrorBody {
  message: string;
  locations?: unknown;
  path?: unknown;
  /** field: the first input field at fault; fields: every one of them, with its reason. */
  extensions: { code: string; field?: string; fields?: readonly FieldProblem[] };
}

function errorBody(message: string, code: string): { errors: ErrorBody[] } {
  return { errors: [{ message, extensions: { code } }] };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The request's JSON, or the reason it is not a GraphQL request. */
export function parseGraphqlRequest(body: string): GraphqlRequest | string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return 'the body is not JSON';
  }
  if (!isObject(json) || typeof json.query !== 'string') return 'the body must be a JSON object with a "query" string';
  if (json.variables != null && !isObject(json.variables)) return '"variables" must be an object';
  if (json.operationName != null && typeof json.operationName !== 'string') return '"operationName" must be a string';
  return json as unknown as GraphqlRequest;
}

export class GraphqlExecutor {
  private readonly schema: GraphQLSchema = createManagementSchema();
  private readonly root: Record<string, unknown>;

  constructor(
    management: Management,
    private readonly logger: Logger,
  ) {
    this.root = managementRoot(management);
  }

  /** Runs one request; `status` is 400 when the document could not be run at all. */
  async run(request: GraphqlRequest): Promise<{ status: number; body: unknown }> {
    let document;
    try {
      // maxTokens stops the parser itself early: a 1 MB document is refused before any tree is built.
      document = parse(request.query, { maxTokens: QUERY_LIMITS.maxTokens });
    } catch (error) {
      return { status: 400, body: errorBody((error as GraphQLError).message, 'GRAPHQL_PARSE_FAILED') };
    }
    const invalid = validate(this.schema, document, QUERY_LIMIT_RULES);
    if (invalid.length > 0) {
      return { status: 400, body: { errors: invalid.map((error) => this.format(error, 'GRAPHQL_VALIDATION_FAILED')) } };
    }
    const result: ExecutionResult = await execute({
      schema: this.schema,
      document,
      rootValue: this.root,
      variableValues: request.variables,
      operationName: request.operationName,
    });
    const body: Record<string, unknown> = { data: result.data ?? null };
    if (result.errors) body.errors = result.errors.map((error) => this.format(error, 'BAD_USER_INPUT'));
    return { status: 200, body };
  }

  /**
   * Errors graphql-js makes itself (a variable of the wrong type, an unknown
   * operation name) get `codeOfOwnErrors`; thrown ones carry their own code
   * or are masked.
   */
  private format(error: GraphQLError, codeOfOwnErrors: string): ErrorBody {
    const where = { locations: error.locations, path: error.path };
    const cause = error.originalError;
    if (cause instanceof ManagementError) {
      const fields = cause.problems.length > 0 ? { field: cause.field!, fields: cause.problems } : {};
      return { message: cause.message, ...where, extensions: { code: cause.code, ...fields } };
    }
    if (cause && !(cause instanceof GraphQLError)) {
      this.logger.error({ err: cause, path: error.path }, 'GraphQL resolver failed');
      return { message: 'internal error', ...where, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
    return { message: error.message, ...where, extensions: { code: codeOfOwnErrors } };
  }
}

export interface GraphqlRouteOptions {
  management: Management;
  /** api.token; without one every request is refused. */
  token: string | undefined;
  logger: Logger;
}

export function graphqlRoute({ management, token, logger }: GraphqlRouteOptions): Route {
  const authenticate = bearerAuth(token);
  const executor = new GraphqlExecutor(management, logger);
  return {
    path: '/graphql',
    methods: ['POST'],
    async handle(request: IncomingMessage, response: ServerResponse) {
      const auth = authenticate(request.headers.authorization);
      if (!auth.ok) {
        sendJson(response, 401, errorBody(auth.reason, 'UNAUTHENTICATED'), { 'www-authenticate': 'Bearer' });
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(request, MAX_REQUEST_BYTES);
      } catch (error) {
        if (!(error instanceof PayloadTooLargeError)) throw error;
        sendJson(response, 413, errorBody(error.message, 'BAD_REQUEST'));
        return;
      }
      const parsed = parseGraphqlRequest(body.toString('utf8'));
      if (typeof parsed === 'string') {
        sendJson(response, 400, errorBody(parsed, 'BAD_REQUEST'));
        return;
      }
      const { status, body: result } = await executor.run(parsed);
      sendJson(response, status, result);
    },
  };
}
