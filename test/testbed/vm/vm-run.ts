import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Argv } from '../../../src/util/exec.ts';
import { RUN_DIR_PARENT, RUN_DIR_PREFIX } from './paths.ts';
import { qemuArgv } from './qemu.ts';
import { InvalidVmRequestError, writeRequest, type VmRequest } from './request.ts';

/** What a VM boots: the kernel, its initramfs, and the module tree the guest binds for modprobe. */
export interface BootImage {
  kernel: string;
  initramfs: string;
  modulesDir: string;
}

export interface VmIo {
  /** Called with the command's output as it arrives. */
  stdout: (chunk: Buffer) => void;
  stderr: (chunk: Buffer) => void;
  /** Kill the VM after this long, boot included. */
  timeoutMs: number;
  /** Kill the VM when this aborts (Ctrl-C in the CLI). */
  signal?: AbortSignal;
  /** Guest memory in MB (default 1024). */
  memoryMb?: number;
}

export interface VmOutcome {
  /** The command's exit code (127 if it could not be started, 128+n if signal n killed it). */
  code: number;
  /** Wall time from starting qemu until it exited. */
  wallMs: number;
  /** Guest uptime when the command started (boot done) and when it exited. */
  guestStartS: number;
  guestEndS: number;
}

/** The VM could not run the command, or was stopped; carries what qemu and the guest console said. */
export class KernelVmError extends Error {
  override name = 'KernelVmError';
  readonly console: string;
  constructor(message: string, console: string) {
    super(console.trim() === '' ? message : `${message}\n--- guest console (last lines) ---\n${console.trimEnd()}`);
    this.console = console;
  }
}

export class KernelVmTimeoutError extends KernelVmError {
  override name = 'KernelVmTimeoutError';
}

export class KernelVmAbortedError extends KernelVmError {
  override name = 'KernelVmAbortedError';
}

/** How long qemu's output connections may take to deliver their last bytes after qemu exited. */
const DRAIN_MS = 5_000;

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes run folders whose process is gone (it was SIGKILLed; qemu died with it through PDEATHSIG). */
export async function removeStaleRunDirs(): Promise<void> {
  for (const name of await readdir(RUN_DIR_PARENT)) {
    const pid = new RegExp(`^${RUN_DIR_PREFIX}(\\d+)-`).exec(name)?.[1];
    if (pid !== undefined && !isAlive(Number(pid))) await rm(join(RUN_DIR_PARENT, name), { recursive: true, force: true });
  }
}

interface OutputSocket {
  /** Resolves when qemu's connection has closed (all output delivered), or at once if it never connected. */
  drained(): Promise<void>;
  close(): Promise<void>;
}

/** A unix socket qemu connects to as a client; everything it sends goes to `sink`. */
function listenForOutput(path: string, sink: (chunk: Buffer) => void): Promise<OutputSocket> {
  let connection: Socket | undefined;
  let closed: Promise<void> | undefined;
  const server = createServer((socket) => {
    if (connection !== undefined) {
      socket.destroy();
      return;
    }
    connection = socket;
    closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('data', sink);
    socket.on('error', () => { /* qemu was killed; 'close' follows */ });
  });
  const drained = async (): Promise<void> => {
    if (closed === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((resolve) => { timer = setTimeout(resolve, DRAIN_MS); })]);
    clearTimeout(timer);
    connection?.destroy();
  };
  const close = (): Promise<void> => {
    connection?.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve({ drained, close }));
  });
}

interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stopped: 'timeout' | 'aborted' | undefined;
}

/**
 * Runs qemu to its end. setpriv's PDEATHSIG kills it if this process dies without cleaning up;
 * a timeout or an abort kills it, and the promise still waits until it is gone.
 */
function runQemu(argv: Argv, io: VmIo): Promise<QemuExit> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let stopped: QemuExit['stopped'];
    const stop = (why: 'timeout' | 'aborted'): void => {
      stopped ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop('timeout'), io.timeoutMs);
    const onAbort = (): void => stop('aborted');
    io.signal?.addEventListener('abort', onAbort, { once: true });
    if (io.signal?.aborted) stop('aborted');
    child.stderr.on('data', (chunk: Buffer) => { if (stderr.length < 65_536) stderr += chunk.toString('utf8'); });
    child.on('error', (error) => {
      clearTimeout(timer);
      io.signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      io.signal?.removeEventListener('abort', onAbort);
      resolve({ code, signal, stderr, stopped });
    });
  });
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function consoleTail(path: string): Promise<string> {
  const text = (await readOptional(path)) ?? '';
  return text.split('\n').slice(-30).join('\n');
}

/** Boots a fresh VM, runs one command in it, and removes every trace (qemu, sockets, run folder). */
export async function runInVm(image: BootImage, request: VmRequest, io: VmIo): Promise<VmOutcome> {
  if (!Number.isFinite(io.timeoutMs) || io.timeoutMs <= 0) throw new InvalidVmRequestError(`the timeout must be a positive number of ms, not ${io.timeoutMs}`);
  await removeStaleRunDirs();
  const dir = await mkdtemp(join(RUN_DIR_PARENT, `${RUN_DIR_PREFIX}${process.pid}-`));
  const sockets: OutputSocket[] = [];
  try {
    const share = join(dir, 'share');
    await writeRequest(share, request, image.modulesDir);
    const stdout = await listenForOutput(join(dir, 'stdout.sock'), io.stdout);
    sockets.push(stdout);
    const stderr = await listenForOutput(join(dir, 'stderr.sock'), io.stderr);
    sockets.push(stderr);
    const consoleLog = join(dir, 'console.log');
    const argv = qemuArgv({
      kernel: image.kernel,
      initramfs: image.initramfs,
      runDir: share,
      stdoutSocket: join(dir, 'stdout.sock'),
      stderrSocket: join(dir, 'stderr.sock'),
      consoleLog,
      ...(io.memoryMb === undefined ? {} : { memoryMb: io.memoryMb }),
    });

    const start = performance.now();
    const exit = await runQemu(argv, io);
    const wallMs = performance.now() - start;
    await Promise.all([stdout.drained(), stderr.drained()]);

    if (exit.stopped === 'timeout') throw new KernelVmTimeoutError(`the VM did not finish within ${io.timeoutMs} ms: ${request.argv.join(' ')}`, await consoleTail(consoleLog));
    if (exit.stopped === 'aborted') throw new KernelVmAbortedError(`the VM was stopped: ${request.argv.join(' ')}`, await consoleTail(consoleLog));
    const guestError = await readOptional(join(share, 'error'));
    const status = await readOptional(join(share, 'status'));
    if (guestError !== undefined || status === undefined || !/^\d+\n?$/.test(status)) {
      const why = guestError?.trim()
        ?? `qemu exited (${exit.signal ?? `code ${exit.code}`}) before the command finished${exit.stderr.trim() ? `: ${exit.stderr.trim()}` : ''}`;
      throw new KernelVmError(`kernel VM: ${why}`, await consoleTail(consoleLog));
    }
    const uptime = async (file: string): Promise<number> => Number.parseFloat((await readOptional(join(share, file))) ?? 'NaN');
    return { code: Number.parseInt(status, 10), wallMs, guestStartS: await uptime('started'), guestEndS: await uptime('finished') };
  } finally {
    await Promise.all(sockets.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  }
}
