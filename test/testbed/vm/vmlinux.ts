import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KernelTree } from './kernel-package.ts';
import { pathExists } from '../../../src/util/fs.ts';

/** The start of an xz stream; Debian compresses its x86 kernels with xz (CONFIG_KERNEL_XZ). */
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export class VmlinuxError extends Error {
  override name = 'VmlinuxError';
}

/** Decompresses the xz stream at the start of `payload` into `output`; bytes after it are ignored. */
async function unxz(payload: Buffer, output: string): Promise<void> {
  const out = await open(output, 'w');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('xz', ['--decompress', '--stdout', '--single-stream'], { stdio: ['pipe', out.fd, 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
      // With --single-stream xz stops reading at the stream's end, so the rest of the write may fail.
      child.stdin?.on('error', () => {});
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new VmlinuxError(`xz exited with ${code}: ${stderr.trim()}`))));
      child.stdin?.end(payload);
    });
  } finally {
    await out.close();
  }
}

/**
 * The kernel image qemu should boot. Under TCG, decompressing the 60 MB kernel takes the guest
 * seconds, so for a kernel with the PVH entry point (CONFIG_PVH) this is the uncompressed ELF,
 * decompressed once on the host and cached beside the bzImage; qemu boots it directly.
 * Other kernels boot from their bzImage.
 */
export async function bootableKernel(kernel: KernelTree): Promise<string> {
  if (!/^CONFIG_PVH=y$/m.test(await readFile(kernel.config, 'utf8'))) return kernel.vmlinuz;
  const vmlinux = join(dirname(kernel.vmlinuz), `vmlinux-${kernel.version}`);
  if (await pathExists(vmlinux)) return vmlinux;

  const image = await readFile(kernel.vmlinuz);
  const offset = image.indexOf(XZ_MAGIC);
  if (offset < 0) return kernel.vmlinuz;
  const work = await mkdtemp(join(dirname(kernel.vmlinuz), '.vmlinux-'));
  try {
    await unxz(image.subarray(offset), join(work, 'vmlinux'));
    const head = Buffer.alloc(4);
    const file = await open(join(work, 'vmlinux'), 'r');
    await file.read(head, 0, 4, 0).finally(() => file.close());
    if (!head.equals(ELF_MAGIC)) throw new VmlinuxError(`the xz payload of ${kernel.vmlinuz} is not an ELF kernel`);
    await rename(join(work, 'vmlinux'), vmlinux);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return vmlinux;
}
