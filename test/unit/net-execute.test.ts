/**
 * The step executor's contract, with real (harmless) processes and files:
 * apply stops at the first failure; revert runs every step, counts
 * "already absent" as done, and reports every other failure; nothing unsafe
 * is started. Lanes and batches run against stand-ins for tc, ip and nft.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ApplyError, RevertError, StepError, applyPlan, applySteps, batchStep, lanes, revertAfterFailedApply, revertSteps, runStep } from '../../src/daemon/execute.ts';
import type { ExecStep, Plan, Step } from '../../src/daemon/plan.ts';

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

describe('lanes and batches', () => {
  const tc = (...args: string[]): ExecStep => ({ kind: 'exec', argv: ['tc', ...args] });
  const nft = (...args: string[]): ExecStep => ({ kind: 'exec', argv: ['nft', ...args] });
  const ip = (...args: string[]): ExecStep => ({ kind: 'exec', argv: ['ip', ...args] });
  let fakes: string;
  let log: string;
  let path: string | undefined;

  /**
   * Harmless stand-ins for tc, ip and nft, first on PATH: each logs what it runs (a batch line by line) and a word
   * in its arguments says what it does: "boom" fails, "gone" fails as already absent ("Invalid handle"),
   * "slow" takes 300 ms, "show" prints "ours". A batch stops at its first failing line, like tc's.
   */
  before(async () => {
    fakes = join(dir, 'fakes');
    log = join(dir, 'fakes.log');
    await mkdir(fakes);
    const script = `#!${process.execPath}
const { appendFileSync, readFileSync } = require('node:fs');
const tool = require('node:path').basename(process.argv[1]);
const note = (text) => appendFileSync(process.env.KERRIS_FAKE_LOG, text + '\\n');
const one = (args) => {
  note('start ' + tool + ' ' + args.join(' '));
  if (args.includes('slow')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  if (args.includes('show')) process.stdout.write('ours\\n');
  note('end ' + tool + ' ' + args.join(' '));
  if (args.includes('boom')) { process.stderr.write('Error: boom\\n'); return 1; }
  if (args.includes('gone')) { process.stderr.write('Error: Invalid handle.\\n'); return 2; }
  return 0;
};
const args = process.argv.slice(2);
if (args.join(' ') === '-batch -') {
  note('batch ' + tool);
  for (const line of readFileSync(0, 'utf8').split('\\n').filter(Boolean)) { const code = one(line.split(' ')); if (code !== 0) process.exit(code); }
} else process.exit(one(args));
`;
    for (const tool of ['tc', 'ip', 'nft']) await writeFile(join(fakes, tool), script, { mode: 0o755 });
    path = process.env['PATH'];
    process.env['PATH'] = `${fakes}:${path ?? ''}`;
    process.env['KERRIS_FAKE_LOG'] = log;
  });
  after(() => {
    process.env['PATH'] = path;
    delete process.env['KERRIS_FAKE_LOG'];
  });
  beforeEach(async () => { await writeFile(log, ''); });
  const ran = async (): Promise<string[]> => (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('end '));

  test('nft steps form a lane beside tc and ip, each in its order; any other step keeps one lane', () => {
    const lane = (l: ReturnType<typeof lanes>): number[][] => l.map((steps) => steps.map((s) => s.index));
    assert.deepEqual(lane(lanes([ip('a'), nft('b'), tc('c'), tc('d'), nft('e')])), [[0, 2, 3], [1, 4]]);
    assert.deepEqual(lane(lanes([tc('a'), { kind: 'write', path: '/x', value: '1' }, nft('b')])), [[0, 1, 2]]);
    assert.deepEqual(lane(lanes([nft('a')])), [[0]]);
    assert.deepEqual(lanes([]), []);
  });

  test('a batch is its steps\' argv as lines; it takes only plain steps of safe tokens of one tool in one namespace', () => {
    const netns = '/proc/42/ns/net';
    assert.deepEqual(batchStep([{ ...tc('qdisc', 'del', 'dev', 'eth0', 'root', 'handle', '4b52:'), netns }, { ...tc('qdisc', 'del', 'dev', 'eth0', 'ingress'), netns }]), {
      kind: 'exec', argv: ['tc', '-batch', '-'], netns, input: 'qdisc del dev eth0 root handle 4b52:\nqdisc del dev eth0 ingress\n',
    });
    assert.throws(() => batchStep([tc('a'), ip('b')]), /one tool in one namespace/);
    assert.throws(() => batchStep([tc('a'), { ...tc('b'), netns }]), /one tool in one namespace/);
    assert.throws(() => batchStep([tc('a'), tc('b c')]), /one tool/, 'a blank would split a token into two');
    assert.throws(() => batchStep([tc('a'), tc('#b')]), /one tool/, 'a comment would hide the rest of the line');
    assert.throws(() => batchStep([tc('a'), { ...tc('b'), input: 'x' }]), /one tool/);
    assert.throws(() => batchStep([nft('a'), nft('b')]), /no batch mode for "nft"/);
  });

  test('revert runs consecutive tc steps as one batch, and nft beside them', async () => {
    await revertSteps([tc('del', 'a'), tc('del', 'b'), nft('delete', 'c'), ip('del', 'd'), ip('del', 'e')]);
    const lines = await ran();
    assert.deepEqual(lines.filter((l) => !l.startsWith('start nft')), ['batch tc', 'start tc del a', 'start tc del b', 'batch ip', 'start ip del d', 'start ip del e']);
    assert.deepEqual(lines.filter((l) => l.startsWith('start nft')), ['start nft delete c']);
  });

  test('a batch that fails in revert is run again step by step: every step runs, already absent is done, each real failure is reported', async () => {
    const steps: Step[] = [tc('del', 'a'), tc('del', 'gone', 'b'), tc('del', 'boom', 'c'), tc('del', 'd'), tc('del', 'boom', 'e')].map((s) => ({ ...s, absentIf: ['Invalid handle'] }));
    await assert.rejects(revertSteps(steps), (error: unknown) => {
      assert.ok(error instanceof RevertError);
      assert.deepEqual(error.failures.map((f) => [f.index, f.step]), [[2, steps[2]], [4, steps[4]]]);
      assert.match(error.message, /step 2 \(tc del boom c\) failed: .*Error: boom/);
      return true;
    });
    assert.deepEqual(await ran(), [
      'batch tc', 'start tc del a', 'start tc del gone b',
      'start tc del a', 'start tc del gone b', 'start tc del boom c', 'start tc del d', 'start tc del boom e',
    ]);
  });

  test('a guarded step is checked after the steps before it and joins the batch after it; one whose guard fails is absent, untouched', async () => {
    const guarded = (word: string): ExecStep => ({ ...tc('del', word), onlyIf: { argv: ['tc', word], stdoutIncludes: 'ours' } });
    await revertSteps([tc('del', 'a'), guarded('show'), tc('del', 'b'), guarded('other'), tc('del', 'c')]);
    assert.deepEqual(await ran(), ['start tc del a', 'start tc show', 'batch tc', 'start tc del show', 'start tc del b', 'start tc other', 'start tc del c']);
  });

  test('apply runs nft beside tc; after a failure in one lane the other starts nothing more', async () => {
    await assert.rejects(applySteps([tc('add', 'slow', 'boom'), tc('add', 'never'), nft('add', 'a'), nft('add', 'slow', 'b'), nft('add', 'never')]), (error: unknown) =>
      error instanceof StepError && error.index === 0);
    const lines = await ran();
    assert.ok(lines.indexOf('start nft add a') < lines.indexOf('start nft add slow b'), 'nft runs in its order');
    assert.ok(!lines.some((l) => l.includes('never')), `nothing starts after the failure: ${lines.join('; ')}`);
    const timeline = (await readFile(log, 'utf8')).split('\n');
    assert.ok(timeline.indexOf('start nft add a') < timeline.indexOf('end tc add slow boom'), 'nft ran while tc did');
  });

  /** The ApplyError of applying `apply`. */
  const applyError = async (apply: readonly Step[], timeoutMs?: number): Promise<ApplyError> => {
    try {
      await applySteps(apply, timeoutMs === undefined ? {} : { timeoutMs });
    } catch (error) {
      assert.ok(error instanceof ApplyError, String(error));
      return error;
    }
    assert.fail('the apply succeeded');
  };
  const undo = (plan: Plan, error: unknown): string[] => revertAfterFailedApply(plan, error).revert.map((s) => (s.kind === 'exec' ? s.argv.join(' ') : s.kind));

  test('after a failed apply, an nft -f that exited with an error changed nothing, so its table is not deleted; the link side is undone', async () => {
    const plan: Plan = { summary: 'test', apply: [ip('add', 'a'), nft('-f', 'boom'), tc('add', 'c')], revert: [tc('del', 'c'), nft('delete', 'table'), ip('del', 'a')] };
    await assert.rejects(applyPlan(plan), (error: unknown) => error instanceof ApplyError && error.index === 1 && error.outcomes.get(0) === 'done');
    const lines = await ran();
    assert.ok(!lines.includes('start nft delete table'), `the table the failed create met is left: ${lines.join('; ')}`);
    assert.ok(lines.includes('start ip del a'), `what the link lane applied is undone: ${lines.join('; ')}`);
  });

  test('after a failed apply, each side is undone when one of its steps may have changed something, and left when none did', async () => {
    const revert = [tc('del', 'x'), nft('delete', 'table')];
    // The table was created, the tc batch failed: both sides are undone, as before.
    const tcFailed = { summary: 't', apply: [nft('-f', 'a'), tc('add', 'boom')], revert };
    assert.deepEqual(undo(tcFailed, await applyError(tcFailed.apply)), ['tc del x', 'nft delete table']);
    // A tc batch that fails may have applied its first lines: it is undone even when it failed first.
    const nftFailed = { summary: 't', apply: [tc('add', 'boom'), nft('-f', 'boom')], revert };
    assert.deepEqual(undo(nftFailed, await applyError(nftFailed.apply)), ['tc del x']);
    // An nft step after a refused one never started: nothing of the netfilter side changed.
    const neverStarted = { summary: 't', apply: [tc('add', 'a'), nft('-f', 'boom'), nft('-f', 'b')], revert };
    const error = await applyError(neverStarted.apply);
    assert.equal(error.outcomes.get(2), undefined);
    assert.deepEqual(undo(neverStarted, error), ['tc del x']);
    // An nft killed by its timeout may have committed its transaction before: its table is undone.
    const killed = { summary: 't', apply: [nft('-f', 'slow')], revert };
    assert.deepEqual(undo(killed, await applyError(killed.apply, 100)), ['tc del x', 'nft delete table']);
    // Steps of no side (a write) are always undone; an error that is not applySteps' keeps the whole revert.
    const write: Plan = { summary: 't', apply: [nft('-f', 'boom')], revert: [{ kind: 'write', path: '/x', value: '0' }, nft('delete', 'table')] };
    assert.deepEqual(undo(write, await applyError(write.apply)), ['write']);
    assert.equal(revertAfterFailedApply(write, new Error('elsewhere')), write);
  });
});
