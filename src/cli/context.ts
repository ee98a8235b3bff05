/** The options every command shares, as kubectl has them, and the client they make. */
import { KubeClient } from '../kube/client.ts';
import { loadClusterConfig } from '../kube/kubeconfig.ts';
import { UsageError } from './errors.ts';

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  output?: string;
  /** Where kerris runs: its controller, daemons, Lease and fleet survey. */
  kerrisNamespace: string;
  requestTimeout?: string;
}

export interface Session {
  client: KubeClient;
  /** -n, else the kubeconfig context's namespace. */
  namespace: string;
  /** -A: every namespace. */
  allNamespaces: boolean;
  kerrisNamespace: string;
  /** Where the configuration came from, for messages. */
  source: string;
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function timeoutMs(value: string | undefined): number {
  if (value === undefined) return 30_000;
  const match = /^(\d+)(ms|s|m)?$/.exec(value);
  if (match === null) throw new UsageError(`--request-timeout ${value} is not a duration such as 30s, 1m or 500ms`);
  const n = Number(match[1]);
  return match[2] === 'ms' ? n : match[2] === 'm' ? n * 60_000 : n * 1000;
}

export async function openSession(options: GlobalOptions): Promise<Session> {
  for (const [flag, value] of [['--namespace', options.namespace], ['--kerris-namespace', options.kerrisNamespace]] as const) {
    if (value !== undefined && !NAMESPACE.test(value)) throw new UsageError(`${flag} ${JSON.stringify(value)} is not a namespace name`);
  }
  const env = options.kubeconfig === undefined ? process.env : { ...process.env, KUBECONFIG: options.kubeconfig };
  const config = await loadClusterConfig({ env, ...(options.context === undefined ? {} : { context: options.context }) });
  const client = new KubeClient(config, { userAgent: 'kubectl-kerris', timeoutMs: timeoutMs(options.requestTimeout) });
  return {
    client,
    namespace: options.namespace ?? config.namespace,
    allNamespaces: options.allNamespaces ?? false,
    kerrisNamespace: options.kerrisNamespace,
    source: config.source,
  };
}
