// npm run kernel-vm -- <command...>
// Runs one command in a fresh stock-kernel VM (it has sch_netem), streams its stdout and stderr
// here and exits with its exit code. 125 means the VM itself failed; 129/130/143 that a signal
// stopped it, 141 that our stdout was closed (as a shell reports SIGPIPE).
import { KernelVmAbortedError, prepareBootImage } from './index.ts';
import { runInVm } from './vm-run.ts';

const USAGE = 'usage: npm run kernel-vm -- <command> [args...]';
/** The VM itself failed, as opposed to the command (the convention of container runners). */
const VM_FAILED = 125;
/** 128 + the signal's number, as a shell reports a command that a signal ended. */
const SIGNAL_CODES = { SIGHUP: 129, SIGINT: 130, SIGPIPE: 141, SIGTERM: 143 } as const;
type StopSignal = keyof typeof SIGNAL_CODES;
const HANDLED_SIGNALS: readonly StopSignal[] = ['SIGHUP', 'SIGINT', 'SIGTERM'];
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
  let stoppedBy: StopSignal | undefined;
  const stopBy = (signal: StopSignal): void => {
    stoppedBy ??= signal;
    stop.abort();
  };
  for (const signal of HANDLED_SIGNALS) process.on(signal, () => stopBy(signal));
  // A closed pipe (e.g. `| head`) ends the run as SIGPIPE would, instead of crashing past the cleanup.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => stopBy('SIGPIPE'));
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
    if (error instanceof KernelVmAbortedError && stoppedBy !== undefined) return SIGNAL_CODES[stoppedBy];
    process.stderr.write(`kernel-vm: ${error instanceof Error ? error.message : String(error)}\n`);
    return VM_FAILED;
  }
}

process.exitCode = await main(process.argv.slice(2));
