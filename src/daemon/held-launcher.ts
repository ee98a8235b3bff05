/**
 * The first moments of a held process (held.ts): `node held-launcher.js <file> <args...>` stops itself with SIGSTOP,
 * and once the daemon has written it into the target's cgroups and continued it, becomes `file` with execve, which
 * keeps its pid, session and cgroups. So the stressor's first instruction already runs, and is counted, in the
 * target's cgroups.
 */
process.kill(process.pid, 'SIGSTOP');
const [file, ...args] = process.argv.slice(2);
if (file === undefined || process.execve === undefined) {
  process.stderr.write('held-launcher: nothing to run, or no process.execve (Node >= 23.11)\n');
  process.exit(2);
}
process.execve(file, [file, ...args], process.env);
