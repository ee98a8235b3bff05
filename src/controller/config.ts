/** The controller's settings, from flags and the environment the Deployment gives it. */
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_TARGETS } from './engine/lifecycle.ts';

export interface OperatorConfig {
  /** The namespace kerris runs in: protected, and where its Lease lives. */
  namespace: string;
  /** This replica's name, for leader election and Events. */
  identity: string;
  /** Namespaces never targeted: kube-system and kerris's own, minus those explicitly allowed. */
  protectedNamespaces: ReadonlySet<string>;
  requireOptIn: boolean;
  leaderElection: boolean;
  healthPort: number;
  concurrency: number;
  /** The most targets one experiment may hit. */
  maxTargets: number;
  /** NodeChaos may target the node that runs every Ready controller replica (docs/api.md, NodeChaos). */
  allowControllerNode: boolean;
  /** The most of the cluster's nodes one NodeChaos may hit, in percent (never less than one node). */
  maxNodeSharePercent: number;
  /** How long node daemons keep this controller's faults without a lease renewal. */
  daemonLeaseTtlMs: number;
  /**
   * `controller`: the leader issues and rotates the daemon certificates itself; `external`: another issuer
   * (cert-manager) makes the two Secrets, and the controller only issues its in-memory client certificate from the
   * CA Secret (docs/certificates.md).
   */
  certificates: 'controller' | 'external';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A third of a cluster's nodes and a little more: with three nodes, one. */
export const DEFAULT_MAX_NODE_SHARE = 34;

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      'allow-protected-namespace': { type: 'string', multiple: true, default: [] },
      'require-opt-in': { type: 'boolean', default: false },
      'leader-elect': { type: 'boolean', default: true },
      'no-leader-elect': { type: 'boolean', default: false },
      'health-port': { type: 'string', default: '8080' },
      concurrency: { type: 'string', default: '4' },
      'daemon-lease-ttl': { type: 'string', default: '10s' },
      'max-targets': { type: 'string', default: String(DEFAULT_MAX_TARGETS) },
      'allow-controller-node': { type: 'boolean', default: false },
      'max-node-share': { type: 'string', default: `${DEFAULT_MAX_NODE_SHARE}%` },
      certificates: { type: 'string', default: 'controller' },
      namespace: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const namespace = values.namespace ?? env['POD_NAMESPACE'] ?? 'kerris-system';
  if (!NAMESPACE.test(namespace)) throw new ConfigError(`namespace ${JSON.stringify(namespace)} is not a DNS label`);
  const allowed = new Set(values['allow-protected-namespace']);
  const healthPort = Number(values['health-port']);
  if (!Number.isInteger(healthPort) || healthPort < 0 || healthPort > 65535) throw new ConfigError(`--health-port ${values['health-port']} is not a port`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new ConfigError(`--concurrency ${values.concurrency} is not a whole number from 1 to 64`);
  const leaseTtl = /^(\d{1,4})s$/.exec(values['daemon-lease-ttl']);
  const daemonLeaseTtlMs = Number(leaseTtl?.[1]) * 1000;
  if (leaseTtl === null || daemonLeaseTtlMs < 3_000 || daemonLeaseTtlMs > 600_000) throw new ConfigError(`--daemon-lease-ttl ${values['daemon-lease-ttl']} must be whole seconds from 3s to 600s`);
  const maxTargets = Number(values['max-targets']);
  if (!Number.isInteger(maxTargets) || maxTargets < 1 || maxTargets > 100_000) throw new ConfigError(`--max-targets ${values['max-targets']} is not a whole number from 1 to 100000`);
  const share = /^(\d{1,3})%$/.exec(values['max-node-share']);
  const maxNodeSharePercent = Number(share?.[1]);
  if (share === null || maxNodeSharePercent < 1 || maxNodeSharePercent > 100) throw new ConfigError(`--max-node-share ${values['max-node-share']} must be a percentage from 1% to 100%`);
  const certificates = values.certificates;
  if (certificates !== 'controller' && certificates !== 'external') throw new ConfigError(`--certificates ${certificates} must be controller or external`);
  return {
    namespace,
    identity: env['POD_NAME'] ?? `kerris-controller-${process.pid}`,
    protectedNamespaces: new Set(['kube-system', namespace].filter((ns) => !allowed.has(ns))),
    requireOptIn: values['require-opt-in'],
    leaderElection: values['leader-elect'] && !values['no-leader-elect'],
    healthPort,
    concurrency,
    daemonLeaseTtlMs,
    maxTargets,
    allowControllerNode: values['allow-controller-node'],
    maxNodeSharePercent,
    certificates,
  };
}
