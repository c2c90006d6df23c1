/**
 * The web console (Settings → APIs & Webhooks), served beside /graphql: one
 * HTML page, a stylesheet and the browser modules. Nothing served here holds
 * data, so nothing here checks the token: the page signs in to the GraphQL
 * API, the only thing it talks to.
 *
 * The browser modules (./browser) are compiled by `npm run build` like the
 * rest of src, and read from the package's dist/ — also when the server runs
 * from src (tsx, vitest), which then needs a build first.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Route } from '../server.js';
import { CONSOLE_PAGE } from './page.js';
import { CONSOLE_STYLES } from './styles.js';

export const CONSOLE_PATH = '/console';
const BROWSER_DIR = fileURLToPath(new URL('../../../dist/api/console/browser/', import.meta.url));
const ENTRY_MODULE = 'main.js';

/** Same-origin everything: no CDN, no inline script, and the page never framed. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; " +
    "base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Re-checked on every load, so an upgraded daemon serves its own page at once.
  'cache-control': 'no-cache',
};

function sendText(request: IncomingMessage, response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': `${contentType}; charset=utf-8`, ...SECURITY_HEADERS });
  response.end(request.method === 'HEAD' ? undefined : body);
}

function staticRoute(path: string, contentType: string, body: () => string | Promise<string>): Route {
  return {
    path,
    methods: ['GET', 'HEAD'],
    handle: async (request, response) => sendText(request, response, 200, contentType, await body()),
  };
}

/** The console's icon (the browser asks for one on every page; a 404 there reads as a broken install). */
const ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f2937"/>' +
  '<path d="M3 5l2 6 3-5 3 5 2-6" fill="none" stroke="#60a5fa" stroke-width="1.6" stroke-linejoin="round"/></svg>';

/** `/` (a redirect), the page, its stylesheet and icon, and one route per browser module compiled when the server starts. */
export function consoleRoutes(): Route[] {
  const built = existsSync(join(BROWSER_DIR, ENTRY_MODULE));
  const modules = built ? readdirSync(BROWSER_DIR).filter((name) => name.endsWith('.js')) : [];
  return [
    {
      path: '/',
      methods: ['GET', 'HEAD'],
      handle(_request, response) {
        response.writeHead(302, { location: CONSOLE_PATH });
        response.end();
      },
    },
    {
      path: CONSOLE_PATH,
      methods: ['GET', 'HEAD'],
      handle(request, response) {
        if (built) sendText(request, response, 200, 'text/html', CONSOLE_PAGE);
        else sendText(request, response, 503, 'text/plain', `the web console is not built: run \`npm run build\` (looked in ${BROWSER_DIR})`);
      },
    },
    staticRoute(`${CONSOLE_PATH}/console.css`, 'text/css', () => CONSOLE_STYLES),
    staticRoute(`${CONSOLE_PATH}/icon.svg`, 'image/svg+xml', () => ICON),
    staticRoute('/favicon.ico', 'image/svg+xml', () => ICON),
    ...modules.map((name) => staticRoute(`${CONSOLE_PATH}/${name}`, 'text/javascript', () => readFile(join(BROWSER_DIR, name), 'utf8'))),
  ];
}
