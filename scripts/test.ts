/**
 * `npm test`: sets the machine up, type-checks, starts the shared test bed,
 * runs every test tier, then stops the test bed and checks that it left
 * nothing behind. Its last line is the total: "tests: N passed, N failed".
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netemNode, type ControlPlane } from '../test/testbed/index.ts';
import { netemNodeLeftovers, stopNetemNode } from '../test/testbed/netem-node/index.ts';
import { REPO_ROOT } from '../test/testbed/paths.ts';
import { setUpMachine } from '../test/testbed/setup.ts';

const TIERS = ['unit', 'cluster', 'node', 'host', 'vm'] as const;
/**
 * The tests on the netem node (the Kubernetes node in the stock-kernel VM). They run after every tier, on one boot of
 * the node started here and stopped after them: each file alone boots it if it is not up and stops it again, which
 * costs about a minute a file, and it must not run during the node tier, whose tests expect one node.
 */
const NETEM_NODE_DIR = join('test', 'vm', 'netem-node');

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

/** The netem node's tests on one boot of it; a node that does not start, or leaves something behind, is a failure. */
async function runOnNetemNode(files: readonly string[], tapDir: string): Promise<Tally> {
  if (files.length === 0) return { passed: 0, failed: 0 };
  process.stdout.write(`\n== the netem node for ${files.length} files: starting it\n`);
  let plane: ControlPlane;
  try {
    ({ plane } = await netemNode());
  } catch (error) {
    process.stdout.write(`the netem node did not start, so its ${files.length} files did not run: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    return { passed: 0, failed: 1 };
  }
  const tally = await runTests('on the netem node', files, tapDir);
  await stopNetemNode(plane);
  const left = await netemNodeLeftovers(plane.stateDir);
  if (left.length > 0) {
    process.stdout.write(`the netem node left something on the host: ${left.join(', ')}\n`);
    tally.failed += 1;
  }
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
    const onNetemNode = await testFiles(NETEM_NODE_DIR);
    const main = await runTests('all tiers', files.filter((f) => !onNetemNode.includes(f)), tapDir);
    const netem = await runOnNetemNode(onNetemNode, tapDir);
    const lifecycle = await runTests('test bed lifecycle', await testFiles(join('test', 'lifecycle')), tapDir);
    for (const tally of [main, netem, lifecycle]) {
      total.passed += tally.passed;
      total.failed += tally.failed;
    }
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
