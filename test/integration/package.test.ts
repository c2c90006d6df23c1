/**
 * What `npm pack` makes is what a receiver's project installs: the tarball,
 * installed alone into an empty project (no repository around it), gives
 * `walhook/verify`, which verifies a signature walhook's signing made.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { signRequest } from '../../src/delivery/signing.js';

const REPO = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'walhook-pack-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', timeout: 300_000 });
}

describe('npm pack', () => {
  it('makes a package that installs alone, whose walhook/verify verifies a signed request', () => {
    // `npm test` built dist/ just before (what `prepare` would do again here).
    npm(['pack', '--ignore-scripts', '--pack-destination', work], REPO);
    const [tarball] = readdirSync(work).filter((name) => name.endsWith('.tgz'));
    expect(tarball).toMatch(/^walhook-\d+\.\d+\.\d+\.tgz$/);

    const project = join(work, 'receiver');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'receiver', version: '1.0.0', type: 'module', private: true }));
    // From the npm cache `npm ci` filled where it can; the optional embedded PostgreSQL is not needed.
    npm(['install', '--prefer-offline', '--omit=optional', join(work, tarball ?? '')], project);

    const body = JSON.stringify({ operation: 'person.created', record: { id: 'a' } });
    const secret = 'a-secret-of-24-characters';
    const headers = signRequest({ body, deliveryId: '6b7c1a5e-0f6a-4f55-9d0b-1c9a3f0e2d11', secrets: [secret], schemes: ['standard', 'twenty', 'twenty-legacy'], now: new Date() });
    writeFileSync(
      join(project, 'check.mjs'),
      `import { verifyWebhook } from 'walhook/verify';
const { body, headers, secret } = JSON.parse(process.argv[2]);
const lowercase = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
const verified = verifyWebhook({ body, headers: lowercase, secret });
let refused = 'accepted';
try { verifyWebhook({ body: body + ' ', headers: lowercase, secret }); } catch (error) { refused = error.reason; }
console.log(JSON.stringify({ scheme: verified.scheme, operation: verified.event.operation, refused }));
`,
    );
    const output = execFileSync(process.execPath, ['check.mjs', JSON.stringify({ body, headers, secret })], { cwd: project, encoding: 'utf8' });
    expect(JSON.parse(output)).toStrictEqual({ scheme: 'standard', operation: 'person.created', refused: 'bad_signature' });
  }, 600_000);
});
