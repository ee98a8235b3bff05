import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../../src/util/process.ts';

/**
 * Runs fn while holding a lock directory, so that test files started in
 * parallel bring up one shared test bed instead of racing to start two.
 * A lock whose holder died is taken over.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 900_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(path, { recursive: false });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(join(path, 'pid'), 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && !processAlive(holder)) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${path} held by pid ${holder}`);
      await sleep(200);
    }
  }
  await writeFile(join(path, 'pid'), `${process.pid}\n`);
  try {
    return await fn();
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}
