// The kernel VM runner itself: argv, environment, working directory, output streams and exit code
// pass through unchanged; it boots within 20 s; and a timeout or Ctrl-C leaves no qemu process
// and no run folder behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  InvalidVmRequestError, KernelVmError, KernelVmTimeoutError, kernelVmProcesses, netemKernel, PrerequisiteError, vmLeftovers,
} from '../testbed/vm/index.ts';
import { removeStaleRunDirs } from '../testbed/vm/vm-run.ts';
import { BUSYBOX } from '../testbed/vm/initramfs.ts';
import { checkHostTools } from '../testbed/vm/prerequisites.ts';
import { pathExists } from '../../src/util/fs.ts';

const REPO = join(import.meta.dirname, '..', '..');
const CLI = join(REPO, 'test', 'testbed', 'vm', 'cli.ts');
const ARGV_SCENARIO = join(import.meta.dirname, 'scenarios', 'testbed-argv.ts');

/** Arguments a shell would mangle; the runner must hand every byte over as it is. */
const TRICKY_ARGS = [
  'two words', '"double"', "it's", '$(touch /tmp/kerris-injected)', '`id`', 'a; echo injected', 'x && y',
  '', ' ', 'tab\there', 'new\nline', 'trailing newlines\n\n', '*', '$HOME', '\\', '-e', '--', 'ünïcødé',
];

const noLeftovers = async (owner = process.pid): Promise<void> => {
  assert.deepEqual(await vmLeftovers(owner), { qemuPids: [], runDirs: [] }, 'qemu or a run folder is left behind');
};

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runCli(args: readonly string[], whileRunning?: (pid: number) => Promise<void>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (whileRunning !== undefined && child.pid !== undefined) whileRunning(child.pid).catch(reject);
  });
}

/** The pid of the qemu that `owner` started, once it runs. */
async function waitForQemu(owner: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const qemu = (await kernelVmProcesses()).find((p) => p.ppid === owner);
    if (qemu !== undefined) return qemu.pid;
    await sleep(200);
  }
  throw new Error(`no qemu process of pid ${owner} within ${timeoutMs} ms`);
}

test('a missing host tool is named with the package to install', async () => {
  const path = process.env['PATH'];
  const emptyDir = await mkdtemp(join(tmpdir(), 'kerris-empty-path-'));
  try {
    process.env['PATH'] = emptyDir;
    await assert.rejects(checkHostTools(BUSYBOX), (error: unknown) =>
      error instanceof PrerequisiteError && /apt-get install .*qemu-system-x86/.test(error.message));
  } finally {
    process.env['PATH'] = path;
    await rm(emptyDir, { recursive: true, force: true });
  }
  // The initramfs has no C library: a dynamically linked busybox would not start there.
  await assert.rejects(checkHostTools('/usr/bin/ls'), (error: unknown) =>
    error instanceof PrerequisiteError && /busybox-static/.test(error.message));
});

describe('kernel VM runner', async () => {
  const kernel = await netemKernel();

  test('boots the stock kernel and runs a command within 20 s', async (t) => {
    await noLeftovers();
    const result = await kernel.run(['uname', '-r']);
    await noLeftovers();
    t.diagnostic(`uname -r: ${Math.round(result.wallMs)} ms wall (qemu start to exit), command started at guest uptime ${result.guestStartS} s`);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${kernel.kernelVersion}\n`, 'kernel messages or init output reached the command stdout');
    assert.equal(result.stderr, '');
    assert.ok(result.wallMs <= 20_000, `the VM took ${result.wallMs} ms`);
  });

  test('argv, environment, working directory, stdout, stderr and exit code pass through unchanged', async () => {
    await noLeftovers();
    const result = await kernel.run([process.execPath, ARGV_SCENARIO, ...TRICKY_ARGS], {
      env: { KERRIS_TEST_EXIT_CODE: '7', KERRIS_TEST_VALUE: 'spaces and $(subshell) and "quotes"\n' },
      cwd: '/usr/share',
    });
    await noLeftovers();
    assert.equal(result.code, 7);
    const lines = result.stdout.split('\n');
    assert.equal(lines.length, 2, `stdout holds more than the scenario's one line:\n${result.stdout}`);
    const printed = JSON.parse(lines[0] ?? '') as { argv: string[]; cwd: string; env: Record<string, string> };
    assert.deepEqual(printed.argv, TRICKY_ARGS);
    assert.equal(printed.cwd, '/usr/share');
    assert.deepEqual(printed.env, {
      PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: process.env['HOME'] ?? '/root',
      PWD: '/usr/share',
      KERRIS_TEST_EXIT_CODE: '7',
      KERRIS_TEST_VALUE: 'spaces and $(subshell) and "quotes"\n',
    });
    assert.equal(result.stderr, 'testbed-argv: stderr line\n');
    assert.equal(await pathExists('/tmp/kerris-injected'), false);
  });

  test('the guest root is a throwaway overlay of the host root, /tmp an empty tmpfs, a cwd and the checkout in /tmp still visible', async () => {
    const cwd = await mkdtemp(join('/tmp', 'kerris-vm-cwd-'));
    const written = '/usr/kerris-vm-overlay-probe';
    try {
      await writeFile(join(cwd, 'data.txt'), 'from the host\n');
      const script = 'findmnt -n -o FSTYPE / && findmnt -n -o FSTYPE /tmp && cat data.txt && ls -A /tmp && echo guest >"$1" && cat "$1"';
      const result = await kernel.run(['sh', '-c', script, 'sh', written], { cwd });
      assert.equal(result.code, 0, result.stderr);
      // Only what the command needs stays in /tmp: its working directory, and this checkout if it was cloned there.
      const kept = [...new Set([cwd, REPO].filter((p) => p.startsWith('/tmp/')).map((p) => p.split('/')[2]))].sort();
      assert.equal(result.stdout, `overlay\ntmpfs\nfrom the host\n${kept.join('\n')}\nguest\n`);
      assert.equal(await pathExists(written), false, 'a write in the guest reached the host');
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
    await noLeftovers();
  });

  test('a bare program name runs the host program PATH finds, as a shell would, not a busybox applet', async () => {
    const result = await kernel.run(['sh', '-c', 'readlink /proc/$$/exe && tc -V']);
    assert.equal(result.code, 0, result.stderr);
    const [shell, tc] = result.stdout.split('\n');
    assert.equal(shell, await realpath('/bin/sh'));
    assert.match(tc ?? '', /iproute2/);
    await noLeftovers();
  });

  test('exit codes come back as the command gave them, 127 for a missing program', async () => {
    for (const code of [1, 255]) {
      const result = await kernel.run(['sh', '-c', 'exit "$1"', 'sh', String(code)]);
      assert.equal(result.code, code);
    }
    const missing = await kernel.run(['/nonexistent/program', 'arg']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /\/nonexistent\/program/);
    await noLeftovers();
  });

  test('a request the guest could not run as given is refused before any VM starts', async () => {
    await assert.rejects(kernel.run(['A=B', 'x']), InvalidVmRequestError);
    await assert.rejects(kernel.run([]), InvalidVmRequestError);
    await assert.rejects(kernel.run(['true'], { env: { 'NOT A NAME': 'x' } }), InvalidVmRequestError);
    await assert.rejects(kernel.run(['true'], { cwd: 'relative' }), InvalidVmRequestError);
    await assert.rejects(kernel.run(['true'], { timeoutMs: Number.NaN }), InvalidVmRequestError);
    await noLeftovers();
  });

  test('a working directory the guest cannot enter is a KernelVmError naming it, not an exit code', async () => {
    await assert.rejects(kernel.run(['true'], { cwd: '/nonexistent/kerris-dir' }), (error: unknown) =>
      error instanceof KernelVmError && /cannot enter the working directory \/nonexistent\/kerris-dir/.test(error.message));
    await noLeftovers();
  });

  test('a timeout kills the VM and removes its run folder', async () => {
    await noLeftovers();
    await assert.rejects(kernel.run(['sleep', '600'], { timeoutMs: 15_000 }), KernelVmTimeoutError);
    await noLeftovers();
  });

  test('npm run kernel-vm streams the command output and exits with its code', async () => {
    const run = await runCli(['--', process.execPath, ARGV_SCENARIO, ...TRICKY_ARGS]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((JSON.parse(run.stdout) as { argv: string[] }).argv, TRICKY_ARGS);
    assert.equal(run.stderr, 'testbed-argv: stderr line\n');
    const failing = await runCli(['sh', '-c', 'echo out; echo err >&2; exit 42']);
    assert.deepEqual(failing, { code: 42, signal: null, stdout: 'out\n', stderr: 'err\n' });
  });

  test('Ctrl-C stops npm run kernel-vm, its qemu and its run folder', async () => {
    let cli = 0;
    let qemu = 0;
    const run = await runCli(['sleep', '600'], async (pid) => {
      cli = pid;
      qemu = await waitForQemu(pid, 60_000);
      process.kill(pid, 'SIGINT');
    });
    assert.equal(run.code, 130, run.stderr);
    assert.ok(qemu > 0);
    assert.equal(await pathExists(`/proc/${qemu}`), false, `qemu ${qemu} still runs`);
    await noLeftovers(cli);
  });

  test('qemu dies with a SIGKILLed runner, and the next run removes its run folder', async () => {
    let cli = 0;
    let qemu = 0;
    const run = await runCli(['sleep', '600'], async (pid) => {
      cli = pid;
      qemu = await waitForQemu(pid, 60_000);
      process.kill(pid, 'SIGKILL');
    });
    assert.equal(run.signal, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (await pathExists(`/proc/${qemu}`) && Date.now() < deadline) await sleep(100);
    assert.equal(await pathExists(`/proc/${qemu}`), false, `qemu ${qemu} outlived its runner`);
    assert.equal((await vmLeftovers(cli)).runDirs.length, 1, 'a SIGKILLed runner cannot remove its own run folder');
    await removeStaleRunDirs();
    await noLeftovers(cli);
  });
});
