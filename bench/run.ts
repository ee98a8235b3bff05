/**
 * `npm run bench -- <name>`: runs one benchmark. Each prints its result as its last line.
 */
const BENCHMARKS: Readonly<Record<string, () => Promise<{ main: () => Promise<void> }>>> = {
  daemon: () => import('./daemon.ts'),
  'daemon-vm': () => import('./daemon-vm.ts'),
  'pod-failure': () => import('./pod-failure.ts'),
  guard: () => import('./guard.ts'),
  faults: () => import('./faults.ts'),
  stress: () => import('./stress.ts'),
};

async function runBenchmark(name: string | undefined): Promise<void> {
  const load = name === undefined ? undefined : BENCHMARKS[name];
  if (load === undefined) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}>\n`);
    process.exitCode = 2;
    return;
  }
  await (await load()).main();
}

runBenchmark(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exitCode = 1;
});
