/**
 * Generates the daemon contract's TypeScript (src/daemon/proto/gen/) from src/daemon/proto/daemon.proto with buf and
 * protoc-gen-es, as src/daemon/proto/buf.gen.yaml says: `node scripts/generate-daemon-proto.ts [out-base]`.
 * The generated files are committed; test/unit/daemon-proto-generated.test.ts fails when they are stale.
 */
import { join, resolve } from 'node:path';
import { run } from '../src/util/exec.ts';

export const REPO = resolve(import.meta.dirname, '..');
export const PROTO_DIR = join(REPO, 'src', 'daemon', 'proto');
/** Where buf.gen.yaml's `out: gen` lands by default: the committed files. */
export const GENERATED_DIR = join(PROTO_DIR, 'gen');

/** Runs buf generate with its output under outBase (outBase/gen/...); returns that gen directory. */
export async function generateDaemonProto(outBase: string = PROTO_DIR): Promise<string> {
  // buf.gen.yaml names the plugin relative to the proto directory, so buf runs there.
  await run([join(REPO, 'node_modules', '.bin', 'buf'), 'generate', '--template', 'buf.gen.yaml', '--output', outBase], { cwd: PROTO_DIR, timeoutMs: 120_000 });
  return join(outBase, 'gen');
}

if (import.meta.main) {
  generateDaemonProto(process.argv[2] === undefined ? PROTO_DIR : resolve(process.argv[2])).then((dir) => process.stdout.write(`${dir}\n`), (error: unknown) => {
    process.stderr.write(`generate-daemon-proto: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
