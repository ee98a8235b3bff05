import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../../src/util/exec.ts';
import type { KernelTree } from './kernel-package.ts';
import { BOOT_MODULES, KERRIS_MODULES, loadOrder, moduleName, readModuleIndex } from './modules.ts';
import { pathExists } from '../../../src/util/fs.ts';

export const BUSYBOX = '/bin/busybox';
const GUEST_INIT = join(import.meta.dirname, 'guest', 'init.sh');
const GUEST_RUN_COMMAND = join(import.meta.dirname, 'guest', 'run-command.sh');

/** What goes into the initramfs; its hash names the cached image, so a change to any part rebuilds it. */
interface InitramfsContent {
  /** This file: how the image is laid out is part of its content too. */
  builder: Buffer;
  init: Buffer;
  runCommand: Buffer;
  busybox: Buffer;
  applets: string[];
  /** Paths relative to /lib/modules/<version>, in load order. */
  modules: string[];
}

async function readContent(kernel: KernelTree): Promise<InitramfsContent> {
  const index = await readModuleIndex(join(kernel.modulesDir, kernel.version));
  const [builder, init, runCommand, busybox, list] = await Promise.all([
    readFile(import.meta.filename),
    readFile(GUEST_INIT),
    readFile(GUEST_RUN_COMMAND),
    readFile(BUSYBOX),
    run([BUSYBOX, '--list']),
  ]);
  return {
    builder,
    init,
    runCommand,
    busybox,
    applets: list.stdout.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox'),
    modules: loadOrder(index, [...BOOT_MODULES, ...KERRIS_MODULES]),
  };
}

function contentKey(kernel: KernelTree, content: InitramfsContent): string {
  const hash = createHash('sha256');
  for (const part of [kernel.version, content.builder, content.init, content.runCommand, content.busybox, content.applets.join('\n'), content.modules.join('\n')]) {
    hash.update(part);
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

const SIGNATURE_MAGIC = Buffer.from('~Module signature appended~\n');
/** struct module_signature, between the signature and the magic; its last field is the signature's length. */
const SIGNATURE_INFO_BYTES = 12;

/**
 * The module without its appended signature. Checking signatures is a large part of loading
 * modules under TCG; the kernel (no signature enforcement) loads unsigned modules and only marks
 * itself tainted.
 */
export function withoutSignature(ko: Buffer): Buffer {
  if (ko.length < SIGNATURE_MAGIC.length + SIGNATURE_INFO_BYTES || !ko.subarray(-SIGNATURE_MAGIC.length).equals(SIGNATURE_MAGIC)) return ko;
  const info = ko.length - SIGNATURE_MAGIC.length - SIGNATURE_INFO_BYTES;
  const signatureLength = ko.readUInt32BE(info + SIGNATURE_INFO_BYTES - 4);
  const end = info - signatureLength;
  if (end <= 0) throw new Error(`malformed module signature (length ${signatureLength} of a ${ko.length}-byte module)`);
  return ko.subarray(0, end);
}

/** Lays out the initramfs: busybox and its applets in /bin, /init, the runner and the modules. */
async function stage(dir: string, kernel: KernelTree, content: InitramfsContent): Promise<void> {
  const modulesDir = join(dir, 'lib', 'modules', kernel.version);
  for (const sub of ['bin', 'etc/kerris', 'proc', 'sys', 'dev', 'lib/modules']) await mkdir(join(dir, sub), { recursive: true });
  await writeFile(join(dir, 'bin', 'busybox'), content.busybox, { mode: 0o755 });
  for (const applet of content.applets) await symlink('busybox', join(dir, 'bin', applet));
  await writeFile(join(dir, 'init'), content.init, { mode: 0o755 });
  await writeFile(join(dir, 'etc', 'kerris', 'run-command.sh'), content.runCommand, { mode: 0o755 });
  await writeFile(join(dir, 'etc', 'kerris', 'modules'), content.modules.map((m) => `${m}\n`).join(''));
  for (const module of content.modules) {
    await mkdir(dirname(join(modulesDir, module)), { recursive: true });
    const ko = await readFile(join(kernel.modulesDir, kernel.version, module));
    await writeFile(join(modulesDir, module), withoutSignature(ko));
  }
  await chmod(dir, 0o755);
}

/** Packs a staged folder as a newc cpio archive (the format the kernel unpacks), owned by root. */
async function pack(dir: string, output: string): Promise<void> {
  // Sorted, a folder comes before what it holds, so the kernel creates it first.
  const entries = (await readdir(dir, { recursive: true })).sort();
  await run(['cpio', '--create', '--format=newc', '--owner=0:0', '--quiet', `--file=${output}`], {
    cwd: dir,
    input: ['.', ...entries].map((e) => `${e}\n`).join(''),
    timeoutMs: 120_000,
  });
}

export interface Initramfs {
  image: string;
  /** The modules its init loads, in load order. */
  modules: string[];
}

/**
 * The initramfs for this kernel: cached next to the kernel tree under a key of its content, so
 * only the first run after a change pays for building it. Images of older content are removed.
 */
export async function ensureInitramfs(kernel: KernelTree): Promise<Initramfs> {
  const content = await readContent(kernel);
  const folder = dirname(kernel.root);
  const name = `initramfs-${contentKey(kernel, content)}.cpio`;
  const image = join(folder, name);
  const result = { image, modules: content.modules.map(moduleName) };
  if (await pathExists(image)) return result;

  const work = await mkdtemp(join(folder, '.initramfs-'));
  try {
    await stage(join(work, 'root'), kernel, content);
    await pack(join(work, 'root'), join(work, name));
    await rename(join(work, name), image);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  for (const old of await readdir(folder)) {
    if (old.startsWith('initramfs-') && old !== name) await rm(join(folder, old), { force: true });
  }
  return result;
}
