import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

export interface KubeconfigSpec {
  server: string;
  caCert: string;
  clientCert: string;
  clientKey: string;
  user: string;
}

/** Writes a kubeconfig with one cluster, one user and one current context, referring to files by path. */
export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<void> {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kerris-testbed', cluster: { server: spec.server, 'certificate-authority': spec.caCert } }],
    users: [{ name: spec.user, user: { 'client-certificate': spec.clientCert, 'client-key': spec.clientKey } }],
    contexts: [{ name: 'kerris-testbed', context: { cluster: 'kerris-testbed', user: spec.user } }],
    'current-context': 'kerris-testbed',
  };
  await writeFile(path, stringify(config), { mode: 0o600 });
}
