/**
 * The controller's client certificate when another issuer (cert-manager)
 * makes it: read from a mounted Secret (ca.crt, tls.crt, tls.key), again
 * whenever the kubelet has swapped in new files.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readTlsFiles, type TlsMaterial } from '../../daemon/tls.ts';

export function fileClientMaterial(dir: string): () => Promise<TlsMaterial> {
  const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
  let cached: { stamp: string; material: TlsMaterial } | undefined;
  return async () => {
    // A Secret volume updates by swapping a symlink, which changes every file's inode and mtime at once.
    const stamp = (await Promise.all(Object.values(files).map((f) => stat(f)))).map((s) => `${s.ino}:${s.mtimeMs}`).join(',');
    if (cached?.stamp !== stamp) cached = { stamp, material: await readTlsFiles(files) };
    return cached.material;
  };
}
