/** What the two command-line runners, bench/run.ts and chaos/run.ts, share. */

/** A wrong command line: printed without a stack, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The scenarios named in `only` (comma-separated), in their own order; all of them when `only` is unset. */
export function selectScenarios<T extends { name: string }>(all: readonly T[], only: string | undefined): T[] {
  if (only === undefined) return [...all];
  const names = only.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !all.some((scenario) => scenario.name === name));
  if (unknown.length > 0) {
    throw new UsageError(`unknown scenario(s) ${unknown.join(', ')}; known: ${all.map((scenario) => scenario.name).join(', ')}`);
  }
  return all.filter((scenario) => names.includes(scenario.name));
}

/** Prints `[label   12 s] message` lines on stderr, timed from `startedAt`. */
export function progressPrinter(label: string, startedAt = Date.now()): (message: string) => void {
  return (message) => console.error(`[${label} ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${message}`);
}

/** Runs a runner's `main` and exits with its code; a UsageError is printed plainly and exits with 2. */
export async function runMain(main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message);
    process.exitCode = 2;
  }
}
