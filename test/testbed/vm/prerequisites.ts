import { access, constants, open } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { PrerequisiteError } from '../prerequisites.ts';

/** Executables the kernel VM uses on the host, each with the Debian package that ships it. */
const EXECUTABLES: Readonly<Record<string, string>> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  cpio: 'cpio',
  depmod: 'kmod',
  busybox: 'busybox-static',
  setpriv: 'util-linux',
  'apt-get': 'apt',
  'apt-cache': 'apt',
  dpkg: 'dpkg',
  xz: 'xz-utils',
};

/** root's PATH may lack the sbin folders when run from a user's shell; depmod lives there. */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), ...EXTRA_DIRS];
  for (const dir of dirs) {
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** True when the ELF file has no PT_INTERP program header, i.e. needs no dynamic loader. */
async function isStaticElf(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const header = Buffer.alloc(64);
    await file.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return false; // not ELF64
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    await file.read(table, 0, table.length, phoff);
    const PT_INTERP = 3;
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === PT_INTERP) return false;
    return true;
  } finally {
    await file.close();
  }
}

/** Throws a PrerequisiteError naming the packages to install when a host tool is missing. */
export async function checkHostTools(busybox: string): Promise<void> {
  const missing: string[] = [];
  for (const [name, pkg] of Object.entries(EXECUTABLES)) {
    if ((await findExecutable(name)) === undefined) missing.push(pkg);
  }
  if (missing.length > 0) {
    throw new PrerequisiteError(`the kernel VM needs ${[...new Set(missing)].join(', ')}; install with: apt-get install ${[...new Set(missing)].join(' ')}`);
  }
  // The initramfs has no C library, so its busybox must be the static build.
  if (!(await isStaticElf(busybox).catch(() => false))) {
    throw new PrerequisiteError(`${busybox} is not a static binary; install with: apt-get install busybox-static`);
  }
}
