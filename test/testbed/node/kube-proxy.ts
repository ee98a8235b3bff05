/**
 * kube-proxy in iptables mode, so that pods reach Services: above all the
 * `kubernetes` Service, through which an in-cluster kerris controller finds
 * the apiserver exactly as it would on a real cluster.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { run } from '../../../src/util/exec.ts';
import type { ControlPlane } from '../control-plane.ts';
import { writeKubeconfig } from '../kubeconfig.ts';
import { ensureCertificate } from '../pki.ts';
import { runningPid, startService, stopService } from '../processes.ts';

const PORTS = { metrics: 36249, healthz: 36256 } as const;

function layout(dir: string) {
  return {
    pki: join(dir, 'pki'),
    kubeconfig: join(dir, 'kube-proxy.kubeconfig'),
    config: join(dir, 'config.yaml'),
    logFile: join(dir, 'kube-proxy.log'),
    pidFile: join(dir, 'kube-proxy.pid'),
  };
}

export async function startKubeProxy(plane: ControlPlane, dir: string, nodeName: string, podSubnet: string): Promise<void> {
  const l = layout(dir);
  const binary = join(plane.binDir, 'kube-proxy');
  if (await runningPid(l.pidFile, binary) !== undefined) return;
  await mkdir(l.pki, { recursive: true, mode: 0o700 });
  // The built-in binding system:node-proxier grants exactly this user what kube-proxy needs.
  const client = await ensureCertificate(l.pki, { cert: plane.caCert, key: plane.caKey }, { file: 'kube-proxy', commonName: 'system:kube-proxy', usage: 'client' });
  await writeKubeconfig(l.kubeconfig, { server: plane.server, caCert: plane.caCert, clientCert: client.cert, clientKey: client.key, user: 'system:kube-proxy' });
  await writeFile(l.config, stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: l.kubeconfig },
    mode: 'iptables',
    hostnameOverride: nodeName,
    clusterCIDR: podSubnet,
    bindAddress: plane.nodeAddress,
    metricsBindAddress: `127.0.0.1:${PORTS.metrics}`,
    healthzBindAddress: `127.0.0.1:${PORTS.healthz}`,
    // The sandbox cannot raise nf_conntrack_max; kube-proxy leaves conntrack sysctls alone with these.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  }));
  await startService({ name: 'kube-proxy', argv: [binary, `--config=${l.config}`, '--v=1'], logFile: l.logFile, pidFile: l.pidFile });
}

/** Stops kube-proxy and removes every iptables rule and chain it made (its own --cleanup mode). */
export async function stopKubeProxy(binDir: string, dir: string): Promise<void> {
  const l = layout(dir);
  const binary = join(binDir, 'kube-proxy');
  await stopService(l.pidFile, binary);
  const hadConfig = await readFile(l.config, 'utf8').then(() => true, () => false);
  if (hadConfig) await run([binary, '--cleanup', `--config=${l.config}`], { allowFailure: true, timeoutMs: 60_000 });
}
