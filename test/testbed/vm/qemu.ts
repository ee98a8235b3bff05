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
  /**
   * What stdoutSocket and stderrSocket are: unix sockets qemu connects to (default; a run that waits for its VM),
   * or files qemu writes (a VM that outlives the process that started it, as the netem node does).
   */
  output?: 'socket' | 'file';
  /** A host tap device (made beforehand, see netem-node/network.ts) for the guest's one virtio NIC, eth0. */
  tap?: { ifname: string; mac: string };
  /** qemu's process name (/proc/<pid>/comm, at most 15 characters); default QEMU_PROCESS_NAME. */
  processName?: string;
  /**
   * A virtio balloon that only reports free pages, so the host takes back guest memory the guest freed (a long-lived
   * VM's image imports touch hundreds of MB once). The guest must load virtio_balloon.
   */
  reportFreePages?: boolean;
  /**
   * The TCG translation cache in MB (qemu's default is 1024). It fills with translated code over a long-lived VM's
   * life and stays resident: kubelet, containerd and node are large programs.
   */
  translationCacheMb?: number;
  /**
   * A guest reboot restarts the VM in place (same qemu process, same request: the guest's command runs again) instead
   * of ending qemu, for a node that NodeChaos node-reboot reboots. Power-off still ends it; a kernel panic then
   * reboots too (panic=-1), which the guest's command reports like any other start.
   */
  restartOnReboot?: boolean;
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
  if (p.tap !== undefined && (!/^[a-z0-9-]{1,15}$/.test(p.tap.ifname) || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(p.tap.mac))) {
    throw new Error(`tap ${JSON.stringify(p.tap)} needs an interface name of [a-z0-9-] (at most 15) and a lower-case MAC address`);
  }
  if (p.translationCacheMb !== undefined && (!Number.isInteger(p.translationCacheMb) || p.translationCacheMb < 32 || p.translationCacheMb > 2048)) {
    throw new Error(`the translation cache must be a whole number of MB from 32 to 2048, not ${p.translationCacheMb}`);
  }
  const chardev = p.output ?? 'socket';
  const name = p.processName ?? QEMU_PROCESS_NAME;
  if (!/^[a-z0-9-]{1,15}$/.test(name)) throw new Error(`qemu process name ${JSON.stringify(name)} must be 1 to 15 of [a-z0-9-]`);
  return [
    QEMU,
    '-name', `${name},process=${name}`,
    // KVM hangs on these machines; TCG is slower but works everywhere.
    '-accel', p.translationCacheMb === undefined ? 'tcg' : `tcg,tb-size=${p.translationCacheMb}`,
    // node needs x86-64-v2 features the plain qemu64 model lacks; `max` has them too, but the
    // kernel then picks paths that TCG emulates slowly, and boots about twice as slow.
    '-cpu', 'qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16',
    // One vCPU: TCG then runs on one host thread, leaving the other core to the host.
    '-smp', '1',
    '-m', String(memoryMb),
    '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none',
    // Power-off or a kernel panic (panic=-1 reboots at once) ends qemu, unless a reboot is to restart the VM.
    ...(p.restartOnReboot === true ? [] : ['-no-reboot']),
    '-kernel', p.kernel,
    '-initrd', p.initramfs,
    '-append', 'console=ttyS0 quiet panic=-1 rdinit=/init',
    '-serial', `file:${p.consoleLog}`,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${p.runDir},mount_tag=kerrisrun,security_model=none`,
    // Entropy, so node's getrandom() does not wait at start.
    '-device', 'virtio-rng-pci',
    '-device', 'virtio-serial-pci',
    '-chardev', `${chardev},id=stdout,path=${p.stdoutSocket}`,
    '-device', 'virtserialport,chardev=stdout,name=kerris.stdout',
    '-chardev', `${chardev},id=stderr,path=${p.stderrSocket}`,
    '-device', 'virtserialport,chardev=stderr,name=kerris.stderr',
    ...(p.reportFreePages === true ? ['-device', 'virtio-balloon-pci,free-page-reporting=on'] : []),
    // No network unless asked for: -nodefaults leaves the guest without a NIC. The tap's other end is the host only.
    ...(p.tap === undefined ? [] : [
      '-netdev', `tap,id=net0,ifname=${p.tap.ifname},script=no,downscript=no`,
      '-device', `virtio-net-pci,netdev=net0,mac=${p.tap.mac}`,
    ]),
  ];
}
