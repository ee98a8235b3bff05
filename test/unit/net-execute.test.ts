/**
 * The step executor's contract, with real (harmless) processes and files:
 * apply stops at the first failure; revert runs every step, counts
 * "already absent" as done, and reports every other failure; nothing unsafe
 * is started.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RevertError, StepError, applyPlan, applySteps, revertSteps, runStep } from '../../src/daemon/execute.ts';
import type { ExecStep, Step } from '../../src/daemon/plan.ts';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'kerris-execute-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

/** A node one-liner as an exec step; `code` is its exit status, `stderr` what it prints there. */
function node(script: string, extra: Partial<ExecStep> = {}): ExecStep {
  return { kind: 'exec', argv: [process.execPath, '-e', script], ...extra };
}

const fail = (stderr: string, code = 2): string => `process.stderr.write(${JSON.stringify(stderr)}); process.exit(${code})`;
const append = (file: string, text: string): string => `require('node:fs').appendFileSync(${JSON.stringify(file)}, ${JSON.stringify(text)})`;

describe('runStep', () => {
  test('feeds input on stdin and succeeds on exit 0', async () => {
    const file = join(dir, 'stdin');
    assert.equal(await runStep(node(`require('node:fs').writeFileSync(${JSON.stringify(file)}, require('node:fs').readFileSync(0))`, { input: 'qdisc add dev eth0 root\n' })), 'done');
    assert.equal(await readFile(file, 'utf8'), 'qdisc add dev eth0 root\n');
  });

  test('a failure whose stderr names absence counts as absent; any other failure throws', async () => {
    assert.equal(await runStep(node(fail('Error: Invalid handle.\n'), { absentIf: ['Invalid handle'] })), 'absent');
    await assert.rejects(runStep(node(fail('Error: Operation not permitted\n'), { absentIf: ['Invalid handle'] })), /exited with 2: Error: Operation not permitted/);
    await assert.rejects(runStep(node(fail('Error: Invalid handle.\n'))), /Invalid handle/);
  });

  test('a command killed by its timeout is a failure even if it printed an absence fragment', async () => {
    await assert.rejects(runStep(node('process.stderr.write("Invalid handle"); setTimeout(() => {}, 10000)', { absentIf: ['Invalid handle'] }), { timeoutMs: 300 }), /timed out/);
  });

  test('refuses steps that could reach something unintended, before starting anything', async () => {
    await assert.rejects(runStep({ kind: 'exec', argv: [] }), /empty argv/);
    await assert.rejects(runStep({ kind: 'exec', argv: ['tc', 'qdisc\0del'] }), /NUL byte/);
    await assert.rejects(runStep({ kind: 'exec', argv: ['true'], netns: '/proc/1/ns/net; reboot' }), /not a network namespace path/);
    await assert.rejects(runStep({ kind: 'exec', argv: ['true'], netns: '/run/netns/../../etc/passwd' }), /not a network namespace path/);
    await assert.rejects(runStep({ kind: 'write', path: '/sys/fs/cgroup/../../etc/x', value: '1' }), /must be absolute without '\.\.'/);
    await assert.rejects(runStep({ kind: 'write', path: 'relative/file', value: '1' }), /must be absolute/);
  });

  test('a write step writes its value', async () => {
    const file = join(dir, 'freezer.state');
    assert.equal(await runStep({ kind: 'write', path: file, value: 'FROZEN' }), 'done');
    assert.equal(await readFile(file, 'utf8'), 'FROZEN');
  });
});

describe('applying and reverting', () => {
  test('apply stops at the first failing step and says which', async () => {
    const log = join(dir, 'apply.log');
    const steps: Step[] = [node(append(log, 'a')), node(fail('boom')), node(append(log, 'c'))];
    await assert.rejects(applySteps(steps), (error: unknown) => error instanceof StepError && error.index === 1 && /boom/.test(error.message));
    assert.equal(await readFile(log, 'utf8'), 'a');
  });

  test('revert runs every step even when some fail, then reports all real failures', async () => {
    const log = join(dir, 'revert.log');
    const steps: Step[] = [
      node(fail('first broke')), node(append(log, 'b')), node(fail('No such file or directory'), { absentIf: ['No such file'] }), node(fail('third broke')), node(append(log, 'e')),
    ];
    await assert.rejects(revertSteps(steps), (error: unknown) => {
      assert.ok(error instanceof RevertError);
      assert.deepEqual(error.failures.map((f) => f.index), [0, 3]);
      return true;
    });
    assert.equal(await readFile(log, 'utf8'), 'be');
  });

  test('a failed apply is reverted before its error is rethrown', async () => {
    const log = join(dir, 'plan.log');
    const plan = { summary: 'test', apply: [node(append(log, '+a')), node(fail('apply broke'))], revert: [node(append(log, '-a'))] };
    await assert.rejects(applyPlan(plan), /apply broke/);
    assert.equal(await readFile(log, 'utf8'), '+a-a');
  });

  test('when that revert fails too, both errors are reported', async () => {
    const plan = { summary: 'test', apply: [node(fail('apply broke'))], revert: [node(fail('revert broke'))] };
    await assert.rejects(applyPlan(plan), (error: unknown) => error instanceof AggregateError && error.errors.length === 2);
  });
});
