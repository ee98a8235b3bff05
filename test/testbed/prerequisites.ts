import { access, constants } from 'node:fs/promises';
import { run } from '../../src/util/exec.ts';

/** Something the test bed needs is not on this machine; the message names what to install. */
export class PrerequisiteError extends Error {
  override name = 'PrerequisiteError';
}

export async function requireRoot(what: string): Promise<void> {
  if (process.getuid?.() !== 0) throw new PrerequisiteError(`${what} needs root (network namespaces, mounts, containerd)`);
}

/** Checks that each executable exists; `packages` maps an executable's path to the Debian package that ships it. */
export async function requireExecutables(packages: Readonly<Record<string, string>>): Promise<void> {
  const missing: { path: string; pkg: string }[] = [];
  for (const [path, pkg] of Object.entries(packages)) {
    try {
      await access(path, constants.X_OK);
    } catch {
      missing.push({ path, pkg });
    }
  }
  if (missing.length > 0) {
    const names = [...new Set(missing.map((m) => m.pkg))].join(' ');
    throw new PrerequisiteError(`missing ${missing.map((m) => m.path).join(', ')}; install with: apt-get install ${names}`);
  }
}

/** Installs the Debian packages that are not installed yet (setup of a fresh machine). */
export async function ensureDebianPackages(packages: readonly string[]): Promise<void> {
  const status = await run(['dpkg-query', '-W', '-f', '${Package} ${db:Status-Status}\n', ...packages], { allowFailure: true });
  const installed = new Set(status.stdout.split('\n').filter((l) => l.endsWith(' installed')).map((l) => l.split(' ')[0]));
  const missing = packages.filter((p) => !installed.has(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new PrerequisiteError(`missing Debian packages: ${missing.join(' ')} (run as root, or apt-get install them)`);
  process.stderr.write(`setup: installing Debian packages: ${missing.join(' ')}\n`);
  await run(['apt-get', 'update', '-qq'], { timeoutMs: 300_000 });
  await run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing], {
    timeoutMs: 900_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}
