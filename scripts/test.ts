/**
 * `npm test`: sets the machine up, type-checks, starts the shared test bed,
 * runs every test tier, then stops the test bed and checks that it left
 * nothing behind. Its last line is the total: "tests: N passed, N failed".
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/testbed/paths.ts';
import { setUpMachine } from '../test/testbed/setup.ts';

const TIERS = ['unit', 'cluster', 'node', 'host', 'vm'] as const;

function step(name: string, argv: readonly [string, ...string[]]): Promise<number> {
  process.stdout.write(`\n== ${name}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: REPO_ROOT, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(REPO_ROOT, dir), { recursive: true }).catch(() => []);
  return entries.filter((f) => f.endsWith('.test.ts')).map((f) => join(dir, f)).sort();
}

interface Tally { passed: number; failed: number }

/** node --test with the spec reporter on stdout and TAP into a file, whose summary is counted. */
async function runTests(name: string, files: readonly string[], tapDir: string): Promise<Tally> {
  if (files.length === 0) return { passed: 0, failed: 0 };
  const tap = join(tapDir, `${name}.tap`);
  const code = await step(`tests: ${name} (${files.length} files)`, [process.execPath, '--test', '--test-concurrency=1',
    '--test-timeout=600000', '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files]);
  const summary = await readFile(tap, 'utf8').catch(() => '');
  const count = (label: string) => Number(summary.match(new RegExp(`^# ${label} (\\d+)$`, 'm'))?.[1] ?? 0);
  const tally = { passed: count('pass'), failed: count('fail') + count('cancelled') };
  // A runner that died before its summary must not pass for a clean run.
  if (code !== 0 && tally.failed === 0) tally.failed = 1;
  return tally;
}

async function main(): Promise<number> {
  await setUpMachine();
  let failed = 0;
  if (await step('type check (tsc --noEmit)', [join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), '--noEmit', '-p', REPO_ROOT]) !== 0) failed += 1;

  const tapDir = await mkdtemp(join(tmpdir(), 'kerris-test-'));
  const total: Tally = { passed: 0, failed };
  try {
    const files = (await Promise.all(TIERS.map((t) => testFiles(join('test', t))))).flat();
    const main = await runTests('all tiers', files, tapDir);
    const lifecycle = await runTests('test bed lifecycle', await testFiles(join('test', 'lifecycle')), tapDir);
    total.passed += main.passed + lifecycle.passed;
    total.failed += main.failed + lifecycle.failed;
  } finally {
    await rm(tapDir, { recursive: true, force: true });
  }
  process.stdout.write(`\ntests: ${total.passed} passed, ${total.failed} failed\n`);
  return total.failed === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (error: unknown) => {
  process.stderr.write(`npm test: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.stdout.write('\ntests: 0 passed, 1 failed\n');
  process.exitCode = 1;
});
