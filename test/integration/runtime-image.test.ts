/**
 * The Docker image's runtime stage, without Docker: a clean directory holding
 * only what that stage copies (package.json, package-lock.json, dist, config)
 * and the production dependencies it installs must print its version and run
 * `walhook start` with the shipped config against a real database until
 * SIGTERM. A package the built code imports but package.json lists under
 * devDependencies is missing here, and walhook fails to start.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/demo/throwaway-postgres.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { waitFor } from '../harness/receiver.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
/** What the runtime stage of the Dockerfile copies, and how it installs dependencies. */
const IMAGE_FILES = ['package.json', 'package-lock.json', 'dist', 'config'];
const RUNTIME_INSTALL = ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts'];
/** The image's CMD, relative to its WORKDIR. */
const START_ARGS = ['dist/cli.js', 'start', '--config', 'config/walhook.yaml'];

interface LockedPackage {
  dev?: boolean;
  optional?: boolean;
}

function runtimeStage(): string {
  const dockerfile = readFileSync(resolve(REPO, 'Dockerfile'), 'utf8');
  return dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
}

describe('the runtime image, built without Docker', () => {
  let imageDir: string;

  beforeAll(async () => {
    imageDir = mkdtempSync(join(tmpdir(), 'walhook-image-'));
    for (const file of IMAGE_FILES) cpSync(resolve(REPO, file), join(imageDir, file), { recursive: true });
    await run('npm', [...RUNTIME_INSTALL, '--no-audit', '--no-fund'], { cwd: imageDir });
  }, 300_000);

  afterAll(() => {
    if (imageDir) rmSync(imageDir, { recursive: true, force: true });
  });

  it("is what the Dockerfile's runtime stage holds", () => {
    const stage = runtimeStage();
    expect(stage).toContain(`RUN npm ${RUNTIME_INSTALL.join(' ')}`);
    for (const file of IMAGE_FILES) expect(stage, file).toMatch(new RegExp(`^COPY .*\\b${file}\\b`, 'm'));
  });

  it('holds no development or optional package', () => {
    const lock = JSON.parse(readFileSync(resolve(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockedPackage> };
    const leftOver = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && (entry.dev || entry.optional) && existsSync(join(imageDir, path)))
      .map(([path]) => path);
    expect(leftOver).toEqual([]);
  });

  it('prints the version of package.json', async () => {
    const { stdout } = await run(process.execPath, ['dist/cli.js', '--version'], { cwd: imageDir });
    const pkg = JSON.parse(readFileSync(resolve(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(stdout.trim()).toBe(pkg.version);
  });

  describe('walhook start with the shipped config', () => {
    let db: TestDatabase;
    let child: ChildProcess | undefined;

    beforeAll(async () => {
      db = await createTestDatabase('image');
    });

    afterAll(async () => {
      child?.kill('SIGKILL');
      await db?.drop();
    });

    it('streams, answers /healthz, and exits 0 on SIGTERM', async () => {
      const port = await freePort();
      // As the chart runs it: the image's config file, the rest from WALHOOK_* variables.
      const started = spawn(process.execPath, START_ARGS, {
        cwd: imageDir,
        env: {
          PATH: process.env.PATH ?? '',
          WALHOOK_DATABASE_URL: db.url,
          WALHOOK_API_LISTEN: `127.0.0.1:${port}`,
          WALHOOK_SOURCE_SLOT: db.name,
          WALHOOK_SOURCE_PUBLICATION: db.name,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = started;
      let output = '';
      started.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      started.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      const exited = new Promise<number | null>((done) => started.on('exit', (code) => done(code)));

      await waitFor(() => {
        if (started.exitCode !== null) throw new Error(`walhook exited with ${started.exitCode}:\n${output}`);
        return output.includes('"replication streaming"');
      }, 'walhook to stream its slot');
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);

      started.kill('SIGTERM');
      expect(await exited, output).toBe(0);
    });
  });
});
