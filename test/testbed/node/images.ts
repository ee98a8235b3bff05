import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../../src/util/exec.ts';
import { CACHE_DIR } from '../paths.ts';
import { PrerequisiteError, requireExecutables } from '../prerequisites.ts';
import { ctr } from './containerd.ts';
import { pathExists } from '../../../src/util/fs.ts';

/** Images are built here and imported; no registry is reachable, so nothing is ever pulled. */
export const PAUSE_IMAGE = 'kerris.local/pause:1';
export const WORKLOAD_IMAGE = 'kerris.local/workload:1';

/** Raised when building an image fails. */
export class ImageBuildError extends Error {
  override name = 'ImageBuildError';
}

/** An OCI image layout packed in a tar file, ready for `ctr images import`. */
export interface ImageArchive {
  name: string;
  file: string;
  /** Content key of the inputs: same key, same bytes. */
  key: string;
}

const BUSYBOX = '/bin/busybox';
const GCC = '/usr/bin/gcc';
const TAR = '/usr/bin/tar';
const STATIC_LIBC = '/usr/lib/x86_64-linux-gnu/libc.a';
/** Bump when the way images are assembled changes, so cached archives are rebuilt. */
const FORMAT = 'kerris-images-1';
const SOURCES = import.meta.dirname;

interface Blob {
  digest: string;
  size: number;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function writeBlob(layoutDir: string, data: Buffer): Promise<Blob> {
  const hex = sha256(data);
  await writeFile(join(layoutDir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** A reproducible tar of rootfs: sorted, owned by root, all times zero. */
async function layerTar(rootfs: string, out: string): Promise<void> {
  await run([TAR, '--create', '--file', out, '--directory', rootfs, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '.']);
}

export interface ImageSpec {
  name: string;
  cmd: readonly string[];
  /** Defaults to the command as given, with PATH=/bin. */
  entrypoint?: readonly string[];
  env?: readonly string[];
  workingDir?: string;
  /** Fills an empty directory with the image's files. */
  fill: (rootfs: string) => Promise<void>;
}

/** Writes an OCI image layout for spec into work/layout and packs it as out. */
async function buildArchive(spec: ImageSpec, work: string, out: string): Promise<void> {
  const rootfs = join(work, 'rootfs');
  const layout = join(work, 'layout');
  await mkdir(rootfs);
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await spec.fill(rootfs);
  const layerFile = join(work, 'layer.tar');
  await layerTar(rootfs, layerFile);
  const layer = await writeBlob(layout, await readFile(layerFile));
  const platform = { architecture: 'amd64', os: 'linux' };
  const config = await writeBlob(layout, Buffer.from(JSON.stringify({
    ...platform,
    config: {
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      Cmd: spec.cmd,
      Env: spec.env ?? ['PATH=/bin'],
      WorkingDir: spec.workingDir ?? '/',
    },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = await writeBlob(layout, Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  const tag = spec.name.slice(spec.name.lastIndexOf(':') + 1);
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifest,
      platform,
      annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': tag },
    }],
  }));
  await run([TAR, '--create', '--file', out, '--directory', layout, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', 'blobs', 'index.json', 'oci-layout']);
}

/** Builds spec into the cache unless an archive with the same content key is there. */
export async function cachedArchive(spec: ImageSpec, key: string): Promise<ImageArchive> {
  const dir = join(CACHE_DIR, 'images');
  const base = spec.name.replace(/[^a-z0-9]+/g, '-');
  const file = join(dir, `${base}-${key.slice(0, 16)}.tar`);
  if (await pathExists(file)) return { name: spec.name, file, key };
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, `.build-${base}-`));
  try {
    await buildArchive(spec, work, join(work, 'image.tar'));
    // rename is atomic: a concurrent build or an interrupted one never leaves a half-written archive under the key.
    await rename(join(work, 'image.tar'), file);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { name: spec.name, file, key };
}

async function toolVersion(argv: readonly [string, ...string[]]): Promise<string> {
  return (await run(argv)).stdout.split('\n')[0] ?? '';
}

/** The pause image: a static C program that sleeps until signalled. */
export async function pauseImage(): Promise<ImageArchive> {
  await requireExecutables({ [GCC]: 'gcc', [TAR]: 'tar' });
  if (!await pathExists(STATIC_LIBC)) throw new PrerequisiteError(`missing ${STATIC_LIBC} (gcc -static needs it); install with: apt-get install libc6-dev`);
  const source = join(SOURCES, 'pause.c');
  const key = sha256(JSON.stringify([FORMAT, PAUSE_IMAGE, await readFile(source, 'utf8'), await toolVersion([GCC, '--version'])]));
  return cachedArchive({
    name: PAUSE_IMAGE,
    cmd: ['/pause'],
    fill: async (rootfs) => {
      await run([GCC, '-static', '-Os', '-s', '-o', join(rootfs, 'pause'), source]);
    },
  }, key);
}

/** The workload image: busybox (sh, sleep, nc, httpd, wget, ping, ...) and kerris-serve as its command. */
export async function workloadImage(): Promise<ImageArchive> {
  await requireExecutables({ [BUSYBOX]: 'busybox-static', [TAR]: 'tar' });
  const busybox = await readFile(BUSYBOX);
  if ((await stat(BUSYBOX)).size !== busybox.length) throw new ImageBuildError(`${BUSYBOX} changed while it was read`);
  const serve = join(SOURCES, 'kerris-serve.sh');
  const key = sha256(JSON.stringify([FORMAT, WORKLOAD_IMAGE, sha256(busybox), await readFile(serve, 'utf8')]));
  return cachedArchive({
    name: WORKLOAD_IMAGE,
    cmd: ['/bin/kerris-serve'],
    fill: async (rootfs) => {
      for (const dir of ['bin', 'etc', 'proc', 'sys', 'dev', 'root', 'tmp']) await mkdir(join(rootfs, dir));
      await chmod(join(rootfs, 'tmp'), 0o1777);
      await writeFile(join(rootfs, 'bin', 'busybox'), busybox, { mode: 0o755 });
      const applets = (await run([BUSYBOX, '--list'])).stdout.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
      for (const applet of applets) await symlink('busybox', join(rootfs, 'bin', applet));
      await copyFile(serve, join(rootfs, 'bin', 'kerris-serve'));
      await chmod(join(rootfs, 'bin', 'kerris-serve'), 0o755);
      await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
      await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    },
  }, key);
}

/** Imports an archive into a containerd namespace and unpacks it for the overlayfs snapshotter. */
export async function importImage(socket: string, namespace: string, archive: ImageArchive): Promise<void> {
  await ctr(socket, namespace, ['images', 'import', '--snapshotter', 'overlayfs', archive.file]);
  const listed = (await ctr(socket, namespace, ['images', 'list', '--quiet'])).stdout.split('\n');
  if (!listed.includes(archive.name)) throw new ImageBuildError(`${archive.file} imported, but containerd does not list ${archive.name} (it lists: ${listed.join(' ')})`);
}

/** Builds (or takes from the cache) both test-bed images. */
export async function testbedImages(): Promise<{ pause: ImageArchive; workload: ImageArchive }> {
  return { pause: await pauseImage(), workload: await workloadImage() };
}
