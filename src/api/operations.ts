/** The SRE's routes: /metrics for Prometheus and /readyz for Kubernetes. No auth, like /healthz. */
import type { Metrics } from './metrics.js';
import { sendJson, type Route } from './server.js';

export function metricsRoute(metrics: Metrics): Route {
  return {
    path: '/metrics',
    methods: ['GET'],
    async handle(_request, response) {
      const { contentType, body } = await metrics.render();
      response.writeHead(200, { 'content-type': contentType });
      response.end(body);
    },
  };
}

export interface Readiness {
  ready: boolean;
  role: 'leader' | 'standby';
  /** Why it is not ready; empty when ready. */
  problems: string[];
}

/** 200 when ready, 503 with the reasons otherwise. */
export function readyRoute(check: () => Promise<Readiness>): Route {
  return {
    path: '/readyz',
    methods: ['GET', 'HEAD'],
    async handle(_request, response) {
      const readiness = await check();
      sendJson(response, readiness.ready ? 200 : 503, { status: readiness.ready ? 'ready' : 'unready', ...readiness });
    },
  };
}
