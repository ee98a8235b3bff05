/** The Helm chart (charts/kerris) through the test bed's helm: rendering it, and the values the test-bed node needs. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunOptions, type RunResult } from '../../src/util/exec.ts';
import { ensureHelm } from './helm-build.ts';
import type { ImageArchive } from './node/images.ts';
import { daemonHostDir, type ClusterNode } from './node/index.ts';
import { REPO_ROOT } from './paths.ts';

export const CHART_DIR = join(REPO_ROOT, 'charts', 'kerris');

/** A values file's content: the JSON shape of charts/kerris/values.yaml, or a part of it to override. */
export type ChartValues = { [key: string]: ChartValue };
type ChartValue = string | number | boolean | null | ChartValue[] | ChartValues;

/** Runs helm (built on first use); with `values`, in a values file given as --values and removed afterwards. */
export async function helm(args: readonly string[], values?: ChartValues, options: RunOptions = {}): Promise<RunResult> {
  const binary = await ensureHelm();
  if (values === undefined) return run([binary, ...args], { timeoutMs: 120_000, ...options });
  const dir = await mkdtemp(join(tmpdir(), 'kerris-helm-'));
  try {
    const file = join(dir, 'values.json');
    await writeFile(file, JSON.stringify(values));
    return await run([binary, ...args, '--values', file], { timeoutMs: 120_000, ...options });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `helm template` of the chart as release `kerris` in namespace kerris-system, CRDs included. */
export async function renderChart(values: ChartValues = {}, options: RunOptions = {}): Promise<RunResult> {
  return helm(['template', 'kerris', CHART_DIR, '--namespace', 'kerris-system', '--include-crds'], values, options);
}

/**
 * What the test-bed node needs from the chart, as deployKerris gives it to deploy/ (test/testbed/kerris.ts): its
 * private containerd socket, the daemon's host paths under the node's own directory (removed with the node), and the
 * image keys as pod annotations so a changed checkout rolls the pods.
 */
export function testBedValues(node: ClusterNode, images: { controller: ImageArchive; daemon: ImageArchive }): ChartValues {
  const hostDir = daemonHostDir(node);
  const image = (archive: ImageArchive): ChartValues => {
    const [repository = '', tag = ''] = archive.name.split(/:(?=[^:/]+$)/);
    return { repository, tag, pullPolicy: 'IfNotPresent' };
  };
  return {
    controller: { image: image(images.controller), podAnnotations: { 'kerris.dev/image-key': images.controller.key.slice(0, 16) } },
    daemon: {
      image: image(images.daemon),
      podAnnotations: { 'kerris.dev/image-key': images.daemon.key.slice(0, 16) },
      containerdSocket: node.containerdSocket,
      hostPaths: { journal: join(hostDir, 'journal'), containerd: join(hostDir, 'containerd'), k3sContainerd: join(hostDir, 'k3s-containerd'), crio: join(hostDir, 'crio'), nodeConfig: join(hostDir, 'node-config') },
    },
  };
}
