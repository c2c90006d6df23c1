/** The daemon's HTTP server with the management API; see server.ts for adding routes. */
import type { AddressInfo } from 'node:net';
import type { WalhookConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { StateDb } from '../state/db.js';
import type { SecretBox } from '../state/secret-box.js';
import { TOKEN_NOT_CONFIGURED } from './auth.js';
import { graphqlRoute } from './graphql.js';
import { Management, type ManagementHooks } from './management.js';
import { createApiServer, healthRoute, type ApiServer, type Route } from './server.js';

export { createApiServer, healthRoute, sendJson, type ApiServer, type Route } from './server.js';

export function managementFor(config: WalhookConfig, db: StateDb, secretBox: SecretBox | null, hooks: ManagementHooks = {}): Management {
  return new Management(
    db,
    { secretBox, maxUrlLength: config.delivery.maxUrlLength, secretRotationOverlapMs: config.delivery.secretRotationOverlap },
    hooks,
  );
}

export interface StartApiOptions {
  config: WalhookConfig;
  management: Management;
  logger: Logger;
  /** Served beside /healthz and /graphql. */
  extraRoutes?: Route[];
}

/** Listens on api.listen; resolves once bound. */
export async function startApi({ config, management, logger, extraRoutes = [] }: StartApiOptions): Promise<{ server: ApiServer; address: AddressInfo }> {
  if (config.api.token === undefined) logger.warn(TOKEN_NOT_CONFIGURED);
  const server = createApiServer({
    routes: [healthRoute(), graphqlRoute({ management, token: config.api.token, logger }), ...extraRoutes],
    logger,
  });
  const address = await server.listen(config.api.listen.host, config.api.listen.port);
  logger.info({ host: address.address, port: address.port }, 'HTTP API listening');
  return { server, address };
}
