import { readFile } from 'node:fs/promises';
import { run } from '../../../src/util/exec.ts';

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Mount points of this mount namespace, in mount order. */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter((line) => line !== '').map((line) => unescapeMountPath(line.split(' ')[4] ?? ''));
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** Mount points at or below dir, deepest and newest first: the order they can be unmounted in. */
export async function mountsUnder(dir: string): Promise<string[]> {
  return (await mountPoints()).filter((point) => isUnder(point, dir)).reverse()
    .sort((a, b) => b.split('/').length - a.split('/').length);
}

/**
 * Unmounts everything at or below dir. kubelet and containerd stack mounts there (rootfs overlays, shm, tokens,
 * the bind mount kubelet makes of its own root); a busy mount is detached lazily so the caller can still remove the tree.
 */
export async function unmountUnder(dir: string): Promise<void> {
  for (let pass = 0; pass < 10; pass++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return;
    for (const point of points) {
      const plain = await run(['umount', point], { allowFailure: true });
      if (plain.code !== 0) await run(['umount', '-l', point], { allowFailure: true });
    }
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`could not unmount ${left.join(', ')}`);
}
