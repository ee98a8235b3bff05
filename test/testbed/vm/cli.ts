// npm run kernel-vm -- <command...>
// Runs one command in a fresh stock-kernel VM (it has sch_netem), streams its stdout and stderr
// here and exits with its exit code. 125 means the VM itself failed; 130/143 that it was stopped.
import { KernelVmAbortedError, prepareBootImage } from './index.ts';
import { runInVm } from './vm-run.ts';

const USAGE = 'usage: npm run kernel-vm -- <command> [args...]';
/** The VM itself failed, as opposed to the command (the convention of container runners). */
const VM_FAILED = 125;
const SIGNAL_CODES: Readonly<Partial<Record<NodeJS.Signals, number>>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A bound, so a hung guest cannot keep qemu running forever. */
const TIMEOUT_MS = 3_600_000;

async function main(args: readonly string[]): Promise<number> {
  const argv = args[0] === '--' ? args.slice(1) : args;
  if (argv.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const stop = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  for (const signal of Object.keys(SIGNAL_CODES) as NodeJS.Signals[]) {
    process.on(signal, () => {
      stoppedBy ??= signal;
      stop.abort();
    });
  }
  // A closed pipe (e.g. `| head`) ends the run like Ctrl-C would, instead of crashing past the cleanup.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => stop.abort());
  // The command sees this shell's environment, minus names a shell could not have set.
  const env = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && ENV_NAME.test(e[0])),
  );
  try {
    const image = await prepareBootImage();
    const outcome = await runInVm(image, { argv, env, cwd: process.cwd() }, {
      stdout: (chunk) => process.stdout.write(chunk),
      stderr: (chunk) => process.stderr.write(chunk),
      timeoutMs: TIMEOUT_MS,
      signal: stop.signal,
    });
    return outcome.code;
  } catch (error) {
    if (error instanceof KernelVmAbortedError && stoppedBy !== undefined) return SIGNAL_CODES[stoppedBy] ?? VM_FAILED;
    process.stderr.write(`kernel-vm: ${error instanceof Error ? error.message : String(error)}\n`);
    return VM_FAILED;
  }
}

process.exitCode = await main(process.argv.slice(2));
