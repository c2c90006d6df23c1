/** The daemon's HTTP server with the management API; see server.ts for adding routes. */
import type { AddressInfo } from 'node:net';
import type { WalhookConfig } from '../config/schema.js';
import { createAddressPolicy } from '../delivery/ssrf.js';
import type { Logger } from '../common/log.js';
import type { StateDb } from '../state/db.js';
import type { SecretBox } from '../state/secret-box.js';
import { TOKEN_NOT_CONFIGURED } from './auth.js';
import { graphqlRoute } from './graphql.js';
import { Management, type ManagementHooks } from './management.js';
import { createApiServer, healthRoute, type ApiServer, type Route } from './server.js';

export type { ApiServer, Route } from './server.js';

export function managementFor(config: WalhookConfig, db: StateDb, secretBox: SecretBox | null, hooks: ManagementHooks = {}): Management {
  return new Management(
    db,
    {
      secretBox,
      maxUrlLength: config.delivery.maxUrlLength,
      maxPayloadBytes: config.delivery.maxPayloadBytes,
      secretRotationOverlapMs: config.delivery.secretRotationOverlap,
      addressPolicy: createAddressPolicy({ enabled: config.delivery.ssrfGuard, allowList: config.delivery.allowList }),
    },
    {
      ...hooks,
      // The runner streams beside one slot; a backfill of an object spans the partitions' streams.
      ...(config.source.partitions > 1 && { backfillsUnavailable: 'backfills are not available with source.partitions above 1 yet' }),
    },
  );
}

export interface StartApiOptions {
  config: WalhookConfig;
  management: Management;
  logger: Logger;
  /** Served beside /healthz and /graphql; /metrics and /readyz go to api.opsListen when it is set. */
  extraRoutes?: Route[];
}

/** Routes for Prometheus and the orchestrator, which api.opsListen can keep off the API's address. */
export const OPS_PATHS: readonly string[] = ['/metrics', '/readyz'];

/** Both listeners as one, so that the daemon closes them together. */
function bothServers(servers: readonly ApiServer[]): ApiServer {
  return {
    listen: () => Promise.reject(new Error('already listening')),
    close: async () => {
      await Promise.all(servers.map((server) => server.close()));
    },
  };
}

/** Listens on api.listen (and api.opsListen when set); resolves once bound. `address` is api.listen's. */
export async function startApi({ config, management, logger, extraRoutes = [] }: StartApiOptions): Promise<{ server: ApiServer; address: AddressInfo; opsAddress: AddressInfo | null }> {
  if (config.api.token === undefined) logger.warn(TOKEN_NOT_CONFIGURED);
  const { opsListen, allowedHosts } = config.api;
  const apiRoutes = [healthRoute(), graphqlRoute({ management, token: config.api.token, logger }), ...extraRoutes];
  const isOps = (route: Route) => opsListen !== undefined && OPS_PATHS.includes(route.path);
  const server = createApiServer({ routes: apiRoutes.filter((route) => !isOps(route)), logger, allowedHosts });
  const address = await server.listen(config.api.listen.host, config.api.listen.port);
  logger.info({ host: address.address, port: address.port }, 'HTTP API listening');
  if (opsListen === undefined) return { server, address, opsAddress: null };

  const ops = createApiServer({ routes: [healthRoute(), ...apiRoutes.filter(isOps)], logger, allowedHosts });
  try {
    const opsAddress = await ops.listen(opsListen.host, opsListen.port);
    logger.info({ host: opsAddress.address, port: opsAddress.port }, 'metrics and health listening');
    return { server: bothServers([server, ops]), address, opsAddress };
  } catch (error) {
    await server.close();
    throw error;
  }
}
