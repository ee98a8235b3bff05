import type { Argv } from '../../../src/util/exec.ts';
import { QEMU_PROCESS_NAME } from './paths.ts';

export const QEMU = 'qemu-system-x86_64';

export interface QemuParams {
  /** A bzImage, or an uncompressed ELF kernel with a PVH entry point. */
  kernel: string;
  initramfs: string;
  /** Shared read-write as `kerrisrun`: the request in, the exit code out. */
  runDir: string;
  /** Unix sockets qemu connects to; the guest's command writes its stdout and stderr there. */
  stdoutSocket: string;
  stderrSocket: string;
  /** The serial console: kernel and init messages, kept apart from the command's output. */
  consoleLog: string;
  /** Guest memory; default 1024. */
  memoryMb?: number;
}

export const DEFAULT_MEMORY_MB = 1024;

/** qemu-system-x86_64's argv for one run; a value, so tests and error messages can show it. */
export function qemuArgv(p: QemuParams): Argv {
  const memoryMb = p.memoryMb ?? DEFAULT_MEMORY_MB;
  if (!Number.isInteger(memoryMb) || memoryMb < 256 || memoryMb > 8192) throw new Error(`guest memory must be a whole number of MB from 256 to 8192, not ${memoryMb}`);
  for (const path of [p.kernel, p.initramfs, p.runDir, p.stdoutSocket, p.stderrSocket, p.consoleLog]) {
    // qemu splits -virtfs, -chardev and -serial values on commas.
    if (path.includes(',')) throw new Error(`qemu option paths cannot contain a comma: ${path}`);
  }
  return [
    QEMU,
    '-name', `${QEMU_PROCESS_NAME},process=${QEMU_PROCESS_NAME}`,
    // KVM hangs on these machines; TCG is slower but works everywhere.
    '-accel', 'tcg',
    // node needs x86-64-v2 features the plain qemu64 model lacks; `max` has them too, but the
    // kernel then picks paths that TCG emulates slowly, and boots about twice as slow.
    '-cpu', 'qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16',
    // One vCPU: TCG then runs on one host thread, leaving the other core to the host.
    '-smp', '1',
    '-m', String(memoryMb),
    '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none',
    // Power-off or a kernel panic (panic=-1 reboots at once) ends qemu.
    '-no-reboot',
    '-kernel', p.kernel,
    '-initrd', p.initramfs,
    '-append', 'console=ttyS0 quiet panic=-1 rdinit=/init',
    '-serial', `file:${p.consoleLog}`,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${p.runDir},mount_tag=kerrisrun,security_model=none`,
    // Entropy, so node's getrandom() does not wait at start.
    '-device', 'virtio-rng-pci',
    '-device', 'virtio-serial-pci',
    '-chardev', `socket,id=stdout,path=${p.stdoutSocket}`,
    '-device', 'virtserialport,chardev=stdout,name=kerris.stdout',
    '-chardev', `socket,id=stderr,path=${p.stderrSocket}`,
    '-device', 'virtserialport,chardev=stderr,name=kerris.stderr',
  ];
}
