/**
 * Writes everything derived from the schema source: the CRDs, the requester-access admission policy, the TS types
 * and docs/api.md; the CRDs and the policy both for deploy/ and for the Helm chart (charts/kerris). deploy/crds holds
 * only CRDs, so `kubectl apply --server-side -f deploy/crds/` installs them.
 * Run it with `npm run generate`; test/unit/api-generated.test.ts fails while the files on disk are stale.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requesterAccessPolicy } from './admission.ts';
import { requesterAccessTemplate } from './chart.ts';
import { crdYaml, customResourceDefinition } from './crd.ts';
import { chaosApi, referenceIntro } from './group.ts';
import { apiReference } from './markdown.ts';
import { resourceMetadata } from './resource.ts';
import { typescriptModule } from './typescript.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every generated file, by path relative to the repository root. Pure: touches no file. */
export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const kind of chaosApi.kinds) {
    const meta = resourceMetadata(chaosApi, kind);
    const name = `${meta.group}_${meta.plural}.yaml`;
    const crd = crdYaml(customResourceDefinition(chaosApi, kind));
    files.set(join('deploy', 'crds', name), crd);
    files.set(join('charts', 'kerris', 'crds', name), crd);
  }
  files.set(join('deploy', 'admission', 'requester-access.yaml'), requesterAccessPolicy(chaosApi));
  files.set(join('charts', 'kerris', 'templates', 'admission-requester-access.yaml'), requesterAccessTemplate(chaosApi));
  files.set(join('src', 'api', 'generated', 'types.ts'), typescriptModule(chaosApi));
  files.set(join('docs', 'api.md'), apiReference(chaosApi, referenceIntro));
  return files;
}

async function main(): Promise<void> {
  for (const [path, content] of generatedFiles()) {
    const target = join(repoRoot, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
    process.stdout.write(`wrote ${path}\n`);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
