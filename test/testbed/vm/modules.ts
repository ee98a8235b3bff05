import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Modules the guest needs before it can reach the host: virtio PCI, the 9p share, the overlay, the output ports. */
export const BOOT_MODULES = [
  'virtio_pci', 'virtio_console', 'virtio_rng', '9pnet_virtio', '9p', 'overlay',
] as const;

/** Modules kerris's fault engines use: loaded at boot so a test sees a failure to load as a boot error. */
export const KERRIS_MODULES = [
  // traffic control
  'sch_netem', 'sch_tbf', 'sch_htb', 'sch_prio', 'sch_sfq', 'sch_ingress', 'ifb',
  'cls_u32', 'cls_matchall', 'cls_bpf', 'act_mirred', 'act_gact',
  // links
  'veth', 'bridge',
  // ipset
  'ip_set', 'ip_set_hash_ip', 'ip_set_hash_net', 'ip_set_hash_ipport', 'ip_set_hash_netport', 'ip_set_list_set',
  // iptables (legacy and nf_tables back ends) and nftables
  'x_tables', 'ip_tables', 'iptable_filter', 'iptable_mangle', 'iptable_raw',
  'ip6_tables', 'ip6table_filter', 'ip6table_mangle', 'ip6table_raw',
  'xt_statistic', 'xt_set', 'xt_mark', 'xt_comment', 'xt_tcpudp', 'xt_multiport', 'xt_conntrack', 'xt_NFQUEUE',
  'ipt_REJECT', 'ip6t_REJECT',
  'nf_tables', 'nft_compat', 'nft_ct', 'nft_reject_inet', 'nft_chain_nat', 'nft_queue',
  'nf_conntrack', 'nfnetlink_queue',
] as const;

/** A module name as modprobe sees it: dashes and underscores are the same. */
export const moduleName = (pathOrName: string): string =>
  pathOrName.replace(/^.*\//, '').replace(/\.ko(\.[a-z]+)?$/, '').replaceAll('-', '_');

export interface ModuleIndex {
  /** Module name -> its path relative to /lib/modules/<version>, for loadable modules. */
  paths: ReadonlyMap<string, string>;
  /** Module name -> the paths of every module it needs (transitively), as modules.dep lists them. */
  deps: ReadonlyMap<string, readonly string[]>;
  /** Names of modules built into the kernel image: nothing to load. */
  builtin: ReadonlySet<string>;
  /** Module name -> names (or aliases) modprobe loads before it (modules.softdep "pre:"). */
  softdeps: ReadonlyMap<string, readonly string[]>;
  /** Alias (e.g. crc32c) -> the modules that provide it, for exact aliases in modules.alias. */
  aliases: ReadonlyMap<string, readonly string[]>;
}

export class ModuleResolutionError extends Error {
  override name = 'ModuleResolutionError';
}

export interface ModuleIndexFiles {
  /** "path: dep dep ..." */
  dep: string;
  /** one path a line */
  builtin: string;
  /** "softdep name pre: a b post: c" */
  softdep: string;
  /** "alias pattern module" */
  alias: string;
}

export function parseModuleIndex(files: ModuleIndexFiles): ModuleIndex {
  const paths = new Map<string, string>();
  const deps = new Map<string, readonly string[]>();
  for (const line of files.dep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const name = moduleName(path);
    paths.set(name, path);
    deps.set(name, line.slice(colon + 1).trim().split(/\s+/).filter((d) => d !== ''));
  }
  const builtin = new Set(files.builtin.split('\n').filter((l) => l.trim() !== '').map(moduleName));
  const softdeps = new Map<string, readonly string[]>();
  for (const line of files.softdep.split('\n')) {
    const [keyword, name, ...rest] = line.trim().split(/\s+/);
    if (keyword !== 'softdep' || name === undefined) continue;
    const pre = rest.indexOf('pre:');
    if (pre < 0) continue;
    const post = rest.indexOf('post:', pre);
    softdeps.set(moduleName(name), rest.slice(pre + 1, post < 0 ? undefined : post));
  }
  const aliases = new Map<string, string[]>();
  for (const line of files.alias.split('\n')) {
    const [keyword, alias, module] = line.trim().split(/\s+/);
    if (keyword !== 'alias' || alias === undefined || module === undefined || /[*?[]/.test(alias)) continue;
    aliases.set(alias, [...(aliases.get(alias) ?? []), moduleName(module)]);
  }
  return { paths, deps, builtin, softdeps, aliases };
}

export async function readModuleIndex(modulesDir: string): Promise<ModuleIndex> {
  const read = (file: string): Promise<string> => readFile(join(modulesDir, file), 'utf8');
  const [dep, builtin, softdep, alias] = await Promise.all([
    read('modules.dep'), read('modules.builtin'), read('modules.softdep'), read('modules.alias'),
  ]);
  return parseModuleIndex({ dep, builtin, softdep, alias });
}

/**
 * The module that provides a softdep: the name itself, or for an alias the generic implementation
 * (it loads on any CPU, where e.g. crc32c_intel needs SSE4.2).
 */
function softdepModule(index: ModuleIndex, nameOrAlias: string): string {
  const name = moduleName(nameOrAlias);
  if (index.paths.has(name) || index.builtin.has(name)) return name;
  const providers = index.aliases.get(nameOrAlias) ?? [];
  return providers.find((p) => p.endsWith('_generic')) ?? providers[0] ?? name;
}

/**
 * The paths to insmod, in an order where every module comes after the modules it needs
 * (modules.dep) and the modules modprobe would load before it (softdep pre:).
 * Built-in modules are left out; a module that is neither loadable nor built in is an error.
 */
export function loadOrder(index: ModuleIndex, wanted: readonly string[]): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const visit = (name: string, neededBy: string | undefined): void => {
    if (done.has(name)) return;
    done.add(name);
    const path = index.paths.get(name);
    if (path === undefined) {
      if (index.builtin.has(name)) return;
      throw new ModuleResolutionError(`kernel module ${name}${neededBy ? ` (needed by ${neededBy})` : ''} is neither in modules.dep nor built in`);
    }
    for (const soft of index.softdeps.get(name) ?? []) visit(softdepModule(index, soft), name);
    for (const dep of index.deps.get(name) ?? []) visit(moduleName(dep), name);
    order.push(path);
  };
  for (const name of wanted) visit(moduleName(name), undefined);
  return order;
}
