import { ensureInitramfs, BUSYBOX } from './initramfs.ts';
import { ensureKernelTree, resolveKernelPackage } from './kernel-package.ts';
import { checkHostTools } from './prerequisites.ts';
import { bootableKernel } from './vmlinux.ts';
import { runInVm, type BootImage } from './vm-run.ts';

export { PrerequisiteError } from '../prerequisites.ts';
export { KernelVmAbortedError, KernelVmError, KernelVmTimeoutError } from './vm-run.ts';
export { InvalidVmRequestError } from './request.ts';
export { QEMU_PROCESS_NAME, RUN_DIR_PARENT, RUN_DIR_PREFIX } from './paths.ts';
export { BOOT_MODULES, KERRIS_MODULES } from './modules.ts';
export { kernelVmProcesses, vmLeftovers, type VmLeftovers } from './leftovers.ts';

export interface NetemKernelRunOptions {
  /** Kill the VM after this long, boot included (default 5 minutes). */
  timeoutMs?: number;
  /**
   * Variables added to the command's environment, which otherwise holds only PATH and HOME
   * (the host's) and PWD.
   */
  env?: Record<string, string>;
  /** The working directory, an absolute host path (default: this process's). */
  cwd?: string;
  /** Stops the VM early. */
  signal?: AbortSignal;
  /** Guest memory in MB, 256 to 8192 (default 1024). */
  memoryMb?: number;
}

export interface NetemKernelRunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from starting qemu until it exited. */
  wallMs: number;
  /** Guest uptime in seconds when the command started (the boot time) and when it exited. */
  guestStartS: number;
  guestEndS: number;
}

/** A stock Debian kernel with sch_netem and the other modules kerris needs, booted fresh for every run. */
export interface NetemKernel {
  /** `uname -r` in the guest. */
  kernelVersion: string;
  /** The modules every boot loads (dependencies included), in load order; others load on demand. */
  modules: readonly string[];
  /**
   * Boots a VM, runs argv in it (no shell: the argv reaches the program as given) as root in a
   * chroot of the host's root with a throwaway overlay, and returns its exit code and output.
   */
  run(argv: readonly string[], options?: NetemKernelRunOptions): Promise<NetemKernelRunResult>;
}

const DEFAULT_TIMEOUT_MS = 300_000;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Messages about preparing the VM (a kernel download) go to stderr, never to a command's output. */
const log = (line: string): void => { process.stderr.write(`${line}\n`); };

/** The kernel and initramfs to boot, downloading and building whatever the cache lacks. */
export async function prepareBootImage(): Promise<BootImage & { kernelVersion: string; modules: string[] }> {
  await checkHostTools(BUSYBOX);
  const { packageName, version } = await resolveKernelPackage();
  const kernel = await ensureKernelTree(packageName, version, log);
  const initramfs = await ensureInitramfs(kernel);
  return {
    kernelVersion: kernel.version,
    modules: initramfs.modules,
    kernel: await bootableKernel(kernel),
    initramfs: initramfs.image,
    modulesDir: kernel.modulesDir,
  };
}

async function runCollected(image: BootImage, argv: readonly string[], options: NetemKernelRunOptions): Promise<NetemKernelRunResult> {
  const cwd = options.cwd ?? process.cwd();
  const env = {
    PATH: process.env['PATH'] ?? DEFAULT_PATH,
    HOME: process.env['HOME'] ?? '/root',
    PWD: cwd,
    ...options.env,
  };
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const outcome = await runInVm(image, { argv, env, cwd }, {
    stdout: (chunk) => out.push(chunk),
    stderr: (chunk) => err.push(chunk),
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.memoryMb === undefined ? {} : { memoryMb: options.memoryMb }),
  });
  return {
    ...outcome,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  };
}

let prepared: Promise<NetemKernel> | undefined;

/**
 * The stock-kernel VM. Checks the prerequisites (throwing PrerequisiteError naming what to
 * install) and prepares the kernel and initramfs once per process.
 */
export function netemKernel(): Promise<NetemKernel> {
  prepared ??= prepareBootImage().then(
    (image) => ({
      kernelVersion: image.kernelVersion,
      modules: image.modules,
      run: (argv, options = {}) => runCollected(image, argv, options),
    }),
    (error: unknown) => {
      prepared = undefined;
      throw error;
    },
  );
  return prepared;
}
