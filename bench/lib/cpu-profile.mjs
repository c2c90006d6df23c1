/**
 * Preloaded into walhook (NODE_OPTIONS=--import, where --cpu-prof is not
 * allowed) when WALHOOK_BENCH_CPU_PROF names a directory: records a V8 CPU
 * profile from start to exit and writes it there as
 * walhook-<pid>.cpuprofile (open it in Chrome DevTools or speedscope).
 * The in-process inspector session answers synchronously, so the profile
 * can be taken in the exit handler.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import process from 'node:process';

const dir = process.env.WALHOOK_BENCH_CPU_PROF;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(dir, `walhook-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
