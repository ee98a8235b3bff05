import { spawn } from 'node:child_process';

/** A command as an argv array: kerris never builds a shell string. */
export type Argv = readonly [string, ...string[]];

export interface RunOptions {
  /** Bytes written to the command's standard input. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the command (SIGKILL) after this many milliseconds. */
  timeoutMs?: number;
  /** Resolve instead of throwing when the command exits non-zero. */
  allowFailure?: boolean;
}

export interface RunResult {
  argv: Argv;
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command that failed to start, was killed, or exited non-zero. */
export class CommandError extends Error {
  readonly result: RunResult;
  constructor(result: RunResult, reason: string) {
    const stderr = result.stderr.trim();
    super(`${result.argv.join(' ')}: ${reason}${stderr ? `: ${stderr}` : ''}`);
    this.name = 'CommandError';
    this.result = result;
  }
}

/** Runs argv to completion and collects its output. */
export function run(argv: Argv, options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.stdin.on('error', () => { /* the command may exit before reading its input */ });
    child.on('error', (error) => {
      clearTimeout(timer);
      const result: RunResult = { argv, code: -1, signal: null, stdout: '', stderr: error.message };
      reject(new CommandError(result, 'could not start'));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        argv,
        code: code ?? -1,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) reject(new CommandError(result, `timed out after ${options.timeoutMs} ms`));
      else if (result.code !== 0 && !options.allowFailure) {
        reject(new CommandError(result, signal ? `killed by ${signal}` : `exited with ${result.code}`));
      } else resolve(result);
    });
    child.stdin.end(options.input ?? '');
  });
}
