/**
 * Builds the daemon as plain JavaScript: `node src/daemon/build.ts <out-dir>`, then run `node <out-dir>/src/daemon/main.js`.
 *
 * Node runs the TypeScript sources directly, but type stripping loads a WebAssembly compiler that stays in memory
 * (about 30 MB of a ~100 MB daemon). A node daemon runs on every node of the cluster, so its image ships the
 * stripped JavaScript instead. Types are erased only (no down-levelling), and `.ts` imports become `.js`. The code
 * generated from proto/daemon.proto is JavaScript already (with .d.ts beside it for tsc) and is copied as it is.
 */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const REPO = resolve(import.meta.dirname, '..', '..');
/** The daemon and what it imports from outside src/daemon. */
const SOURCE_DIRS = ['src/daemon', 'src/util'];

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(join(REPO, dir), { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(REPO, join(e.parentPath, e.name)));
}

export async function buildDaemon(outDir: string): Promise<string> {
  for (const dir of SOURCE_DIRS) {
    for (const file of await files(dir)) {
      const target = join(outDir, file);
      await mkdir(dirname(target), { recursive: true });
      if (file.endsWith('.proto') || file.endsWith('.js')) {
        await copyFile(join(REPO, file), target);
      } else if (file.endsWith('.ts') && !file.endsWith('.d.ts') && file !== relative(REPO, import.meta.filename)) {
        const output = ts.transpileModule(await readFile(join(REPO, file), 'utf8'), {
          fileName: file,
          compilerOptions: {
            target: ts.ScriptTarget.ESNext,
            module: ts.ModuleKind.ESNext,
            verbatimModuleSyntax: true,
            rewriteRelativeImportExtensions: true,
          },
        });
        await writeFile(target.replace(/\.ts$/, '.js'), output.outputText);
      }
    }
  }
  await writeFile(join(outDir, 'package.json'), `${JSON.stringify({ type: 'module' })}\n`);
  return join(outDir, 'src', 'daemon', 'main.js');
}

if (import.meta.main) {
  const out = process.argv[2];
  if (out === undefined) {
    process.stderr.write('usage: node src/daemon/build.ts <out-dir>\n');
    process.exitCode = 2;
  } else {
    buildDaemon(resolve(out)).then((main) => process.stdout.write(`${main}\n`), (error: unknown) => {
      process.stderr.write(`build: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    });
  }
}
