import { mkdir, mkdtemp, readdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, run } from '../../../src/util/exec.ts';
import { KERNEL_VM_CACHE_DIR } from './paths.ts';
import { PrerequisiteError } from '../prerequisites.ts';
import { pathExists } from '../../../src/util/fs.ts';

/** Debian's meta package; it depends on the concrete kernel of the current ABI. */
export const KERNEL_META_PACKAGE = 'linux-image-amd64';

/** A kernel package extracted into the cache, with modules.dep generated. */
export interface KernelTree {
  /** The kernel release, `uname -r` in the guest (e.g. 6.1.0-56-amd64). */
  version: string;
  /** The package it came from (e.g. linux-image-6.1.0-56-amd64). */
  packageName: string;
  /** The extracted package's root. */
  root: string;
  /** The compressed image as Debian ships it (bzImage). */
  vmlinuz: string;
  /** Its config, to see which boot protocols it supports. */
  config: string;
  /** `<root>/lib/modules`, without symlinks, as the guest sees it through the host-root share. */
  modulesDir: string;
}

/** A file that exists only once extraction and depmod finished. */
const COMPLETE_MARKER = 'kerris-complete';

/** Versions land in paths and on the kernel command line; Debian's are like 6.1.0-56-amd64. */
const KERNEL_VERSION = /^[0-9][0-9A-Za-z.+~-]*$/;

/** The concrete kernel package that linux-image-amd64 depends on, from the local apt lists. */
export async function resolveKernelPackage(): Promise<{ packageName: string; version: string }> {
  const depends = await run(['apt-cache', 'depends', KERNEL_META_PACKAGE], { allowFailure: true, timeoutMs: 60_000 });
  const match = /^\s*Depends:\s*linux-image-(\S+)\s*$/m.exec(depends.stdout);
  const version = match?.[1];
  if (depends.code !== 0 || version === undefined) {
    throw new PrerequisiteError(
      `apt-cache does not know ${KERNEL_META_PACKAGE} (${depends.stderr.trim() || 'no Depends line'}); run: apt-get update`,
    );
  }
  if (!KERNEL_VERSION.test(version)) throw new PrerequisiteError(`unexpected kernel version ${JSON.stringify(version)} from apt-cache depends ${KERNEL_META_PACKAGE}`);
  return { packageName: `linux-image-${version}`, version };
}

async function treeOf(packageName: string, version: string, root: string): Promise<KernelTree> {
  return {
    version,
    packageName,
    root,
    vmlinuz: join(root, 'boot', `vmlinuz-${version}`),
    config: join(root, 'boot', `config-${version}`),
    modulesDir: await realpath(join(root, 'lib', 'modules')),
  };
}

/**
 * The kernel tree for this version, downloaded with apt-get and extracted with dpkg only when
 * the cache has no complete copy. Concurrent callers each extract into a temp folder; the first
 * rename wins.
 */
export async function ensureKernelTree(
  packageName: string,
  version: string,
  log: (line: string) => void,
): Promise<KernelTree> {
  if (!KERNEL_VERSION.test(version)) throw new Error(`invalid kernel version ${JSON.stringify(version)}`);
  const root = join(KERNEL_VM_CACHE_DIR, version, 'tree');
  if (await pathExists(join(root, COMPLETE_MARKER))) return treeOf(packageName, version, root);

  await mkdir(join(KERNEL_VM_CACHE_DIR, version), { recursive: true });
  const work = await mkdtemp(join(KERNEL_VM_CACHE_DIR, version, '.download-'));
  try {
    log(`kernel-vm: downloading ${packageName} into ${join(KERNEL_VM_CACHE_DIR, version)}`);
    try {
      await run(['apt-get', 'download', packageName], { cwd: work, timeoutMs: 600_000 });
    } catch (error) {
      const detail = error instanceof CommandError ? error.message : String(error);
      throw new PrerequisiteError(`cannot download ${packageName} (${detail}); run: apt-get update, and check that Debian's archive is reachable`);
    }
    const debs = (await readdir(work)).filter((f) => f.endsWith('.deb'));
    const deb = debs[0];
    if (deb === undefined || debs.length !== 1) throw new Error(`apt-get download ${packageName} left ${debs.length} .deb files in ${work}`);
    const extracted = join(work, 'tree');
    await run(['dpkg', '-x', join(work, deb), extracted], { timeoutMs: 300_000 });
    await run(['depmod', '-b', extracted, version], { timeoutMs: 120_000 });
    await writeFile(join(extracted, COMPLETE_MARKER), `${deb}\n`);
    try {
      await rename(extracted, root);
    } catch (error) {
      // Another run finished first; its tree is as good as ours.
      if (!(await pathExists(join(root, COMPLETE_MARKER)))) throw error;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return treeOf(packageName, version, root);
}
