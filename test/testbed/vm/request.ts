import { mkdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { REPO_ROOT } from '../paths.ts';

/** One command for the guest: exactly this argv, environment and working directory. */
export interface VmRequest {
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  /** An absolute path on the host; the guest's root is the host's, so it exists there too. */
  cwd: string;
  /** More host paths under /tmp or /run that stay visible in the guest (see keptPaths). */
  keep?: readonly string[];
  /**
   * Run the command as the guest's PID 1 on the overlay as its real root (not in a chroot), for a command that runs
   * containers and the VM's whole life (the netem node). No exit code comes back: the VM ends when the command does.
   */
  asInit?: boolean;
}

export class InvalidVmRequestError extends Error {
  override name = 'InvalidVmRequestError';
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Host paths the guest keeps in place even under /tmp and /run, which it covers with empty tmpfs: the working
 * directory, and this checkout, which holds the node binary (node_modules) and the tests a command names, wherever
 * the user cloned it.
 */
export function keptPaths(request: VmRequest): string[] {
  return [request.cwd, REPO_ROOT, ...request.keep ?? []];
}

export function validateRequest(request: VmRequest): void {
  const program = request.argv[0];
  if (program === undefined || program === '') throw new InvalidVmRequestError('the command is empty');
  // The guest starts the command with env(1), which would take NAME=VALUE for a variable.
  if (program.includes('=')) throw new InvalidVmRequestError(`the program name cannot contain '=': ${JSON.stringify(program)}`);
  for (const arg of request.argv) {
    if (arg.includes('\0')) throw new InvalidVmRequestError(`an argument contains a NUL byte: ${JSON.stringify(arg)}`);
  }
  for (const [name, value] of Object.entries(request.env)) {
    if (!ENV_NAME.test(name)) throw new InvalidVmRequestError(`invalid environment variable name ${JSON.stringify(name)}`);
    if (value.includes('\0')) throw new InvalidVmRequestError(`environment variable ${name} contains a NUL byte`);
  }
  if (!isAbsolute(request.cwd) || request.cwd.includes('\0')) throw new InvalidVmRequestError(`the working directory must be an absolute path: ${JSON.stringify(request.cwd)}`);
  for (const path of request.keep ?? []) {
    if (!isAbsolute(path) || path.includes('\0')) throw new InvalidVmRequestError(`a kept path must be an absolute path: ${JSON.stringify(path)}`);
  }
}

/**
 * Writes the request as guest/run-command.sh reads it: one file per argument and per variable,
 * so the bytes reach the guest unchanged and no shell ever parses them.
 */
export async function writeRequest(dir: string, request: VmRequest, modulesDir: string): Promise<void> {
  validateRequest(request);
  await mkdir(join(dir, 'argv'), { recursive: true });
  await mkdir(join(dir, 'env'), { recursive: true });
  await mkdir(join(dir, 'keep'), { recursive: true });
  await writeFile(join(dir, 'cwd'), request.cwd);
  await Promise.all(keptPaths(request).map((path, i) => writeFile(join(dir, 'keep', String(i)), path)));
  await writeFile(join(dir, 'modules-dir'), modulesDir);
  if (request.asInit === true) await writeFile(join(dir, 'as-init'), '');
  await Promise.all(request.argv.map((arg, i) => writeFile(join(dir, 'argv', String(i)), arg)));
  await Promise.all(Object.entries(request.env).map(([name, value], i) => writeFile(join(dir, 'env', String(i)), `${name}=${value}`)));
}
