import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Kernels and initramfs images, one folder per kernel version; survives runs and clones (never in the repo). */
export const KERNEL_VM_CACHE_DIR = join(process.env['KERRIS_CACHE_DIR'] ?? join(homedir(), '.cache', 'kerris'), 'kernel-vm');

/** Each run gets a folder `<prefix><pid>-<random>` here; the pid lets a later run remove the folder of a killed one. */
export const RUN_DIR_PARENT = tmpdir();
export const RUN_DIR_PREFIX = 'kerris-vm-';

/** qemu's process name (its /proc/<pid>/comm), so tests can check that no VM outlives its run. */
export const QEMU_PROCESS_NAME = 'kerris-vm';
