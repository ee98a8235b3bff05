/** The daemon's settings, from flags with environment variables as fallback (flags win). */
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { DaemonError } from './errors.ts';
import { PROCESS_NAME } from './stopped.ts';

export interface DaemonConfig {
  /** host:port of the gRPC API (mutual TLS). */
  listen: string;
  /** host:port of /metrics and /healthz (plain HTTP), or undefined for none. */
  metrics: { host: string; port: number } | undefined;
  journalDir: string;
  tls: { ca: string; cert: string; key: string };
  containerdSocket: string | undefined;
  criSocket: string | undefined;
  containerdNamespace: string;
  nodeName: string;
  /** Revert every injection on SIGTERM/SIGINT (for uninstalling); off by default, see main.ts. */
  revertOnShutdown: boolean;
  /** CNs of the client certificates allowed to call (the lease holders); never empty. */
  clientNames: string[];
  /** How often the TLS files are read again, to follow a rotation. */
  tlsRefreshMs: number;
  /** Namespaces whose containers are never faulted: the flag's list plus the daemon's own (POD_NAMESPACE). */
  protectedNamespaces: string[];
  /** The comm (and executable name) of the node's kubelet, which kubelet-stop stops: `kubelet`, or `k3s` on k3s. */
  kubeletProcess: string;
  /**
   * The node's own kerris settings (the host's /etc/kerris, mounted read-only): the file allow-node-reboot there is
   * the node's consent to node-reboot (faults/node-reboot.ts).
   */
  nodeConfigDir: string;
}

const OPTIONS = {
  listen: { type: 'string', env: 'KERRIS_DAEMON_LISTEN', fallback: '0.0.0.0:9443' },
  'metrics-listen': { type: 'string', env: 'KERRIS_DAEMON_METRICS_LISTEN', fallback: '127.0.0.1:9464' },
  'journal-dir': { type: 'string', env: 'KERRIS_DAEMON_JOURNAL_DIR', fallback: '/var/lib/kerris/journal' },
  'tls-ca': { type: 'string', env: 'KERRIS_DAEMON_TLS_CA', fallback: '/etc/kerris/tls/ca.crt' },
  'tls-cert': { type: 'string', env: 'KERRIS_DAEMON_TLS_CERT', fallback: '/etc/kerris/tls/tls.crt' },
  'tls-key': { type: 'string', env: 'KERRIS_DAEMON_TLS_KEY', fallback: '/etc/kerris/tls/tls.key' },
  'containerd-socket': { type: 'string', env: 'KERRIS_CONTAINERD_SOCKET', fallback: '' },
  'cri-socket': { type: 'string', env: 'KERRIS_CRI_SOCKET', fallback: '' },
  'containerd-namespace': { type: 'string', env: 'KERRIS_CONTAINERD_NAMESPACE', fallback: 'k8s.io' },
  'node-name': { type: 'string', env: 'NODE_NAME', fallback: '' },
  'revert-on-shutdown': { type: 'string', env: 'KERRIS_DAEMON_REVERT_ON_SHUTDOWN', fallback: 'false' },
  'client-names': { type: 'string', env: 'KERRIS_DAEMON_CLIENT_NAMES', fallback: 'kerris-controller' },
  'tls-refresh-ms': { type: 'string', env: 'KERRIS_DAEMON_TLS_REFRESH_MS', fallback: '10000' },
  'protected-namespaces': { type: 'string', env: 'KERRIS_DAEMON_PROTECTED_NAMESPACES', fallback: 'kube-system' },
  'kubelet-process': { type: 'string', env: 'KERRIS_DAEMON_KUBELET_PROCESS', fallback: 'kubelet' },
  'node-config-dir': { type: 'string', env: 'KERRIS_DAEMON_NODE_CONFIG_DIR', fallback: '/host/etc/kerris' },
} as const;

type Name = keyof typeof OPTIONS;

export const USAGE = `usage: kerris-daemon [--flag value ...]\n${Object.entries(OPTIONS)
  .map(([flag, o]) => `  --${flag} (env ${o.env}${o.fallback === '' ? '' : `, default ${o.fallback}`})`).join('\n')}`;

function hostPort(flag: string, value: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (match === null || match[1] === undefined || port > 65535) throw new DaemonError('invalid', `--${flag} ${JSON.stringify(value)} must be host:port`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

function absolutePath(flag: string, value: string): string {
  if (!value.startsWith('/') || value.split('/').includes('..') || value.includes('\0')) throw new DaemonError('invalid', `--${flag} ${JSON.stringify(value)} must be an absolute path`);
  return value;
}

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): DaemonConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(Object.keys(OPTIONS).map((name) => [name, { type: 'string' as const }])),
    strict: true,
    allowPositionals: false,
  });
  const get = (name: Name): string => {
    const flag = values[name];
    return typeof flag === 'string' ? flag : env[OPTIONS[name].env] ?? OPTIONS[name].fallback;
  };
  const listen = get('listen');
  hostPort('listen', listen);
  const metricsListen = get('metrics-listen');
  const optionalPath = (name: Name): string | undefined => (get(name) === '' ? undefined : absolutePath(name, get(name)));
  const revert = get('revert-on-shutdown');
  if (revert !== 'true' && revert !== 'false') throw new DaemonError('invalid', `--revert-on-shutdown must be true or false, got ${JSON.stringify(revert)}`);
  const clientNames = get('client-names').split(',').map((n) => n.trim()).filter((n) => n !== '');
  // Without names any certificate the CA ever signed (for any component) could hold leases and apply faults.
  if (clientNames.length === 0) throw new DaemonError('invalid', '--client-names must name at least one client certificate (common name) allowed to call');
  const tlsRefreshMs = Number(get('tls-refresh-ms'));
  if (!Number.isInteger(tlsRefreshMs) || tlsRefreshMs < 100 || tlsRefreshMs > 3_600_000) {
    throw new DaemonError('invalid', `--tls-refresh-ms must be an integer between 100 and 3600000, got ${JSON.stringify(get('tls-refresh-ms'))}`);
  }
  const kubeletProcess = get('kubelet-process');
  // It is compared with /proc/<pid>/comm, which holds at most 15 bytes of the executable's file name.
  if (!PROCESS_NAME.test(kubeletProcess)) {
    throw new DaemonError('invalid', `--kubelet-process ${JSON.stringify(kubeletProcess)} must be a process name: 1 to 15 printable characters, no blank or '/'`);
  }
  // The daemon's own namespace is always protected, whatever the flag says: faulting it would fault kerris itself.
  const ownNamespace = env['POD_NAMESPACE'] ?? '';
  const protectedNamespaces = [...new Set([...get('protected-namespaces').split(','), ownNamespace].map((n) => n.trim()).filter((n) => n !== ''))];
  return {
    listen,
    metrics: metricsListen === 'off' ? undefined : hostPort('metrics-listen', metricsListen),
    journalDir: absolutePath('journal-dir', get('journal-dir')),
    tls: { ca: absolutePath('tls-ca', get('tls-ca')), cert: absolutePath('tls-cert', get('tls-cert')), key: absolutePath('tls-key', get('tls-key')) },
    containerdSocket: optionalPath('containerd-socket'),
    criSocket: optionalPath('cri-socket'),
    containerdNamespace: get('containerd-namespace'),
    nodeName: get('node-name') === '' ? hostname() : get('node-name'),
    revertOnShutdown: revert === 'true',
    clientNames,
    tlsRefreshMs,
    protectedNamespaces,
    kubeletProcess,
    nodeConfigDir: absolutePath('node-config-dir', get('node-config-dir')),
  };
}
