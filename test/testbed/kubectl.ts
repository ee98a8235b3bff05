import { run, type RunOptions, type RunResult } from '../../src/util/exec.ts';
import type { ControlPlane } from './control-plane.ts';

/** Runs the test bed's own kubectl against plane; throws on a non-zero exit unless allowFailure. */
export function kubectl(plane: ControlPlane, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run([plane.kubectl, `--kubeconfig=${plane.kubeconfig}`, ...args], { timeoutMs: 60_000, ...options });
}

/** kubectl … -o json, parsed. */
export async function kubectlJson<T>(plane: ControlPlane, args: readonly string[]): Promise<T> {
  const result = await kubectl(plane, [...args, '-o', 'json']);
  return JSON.parse(result.stdout) as T;
}
