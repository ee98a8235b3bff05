import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../testbed/paths.ts';

const DEPLOY = join(REPO_ROOT, 'deploy');

describe('deploy/', () => {
  it('the kustomization installs every generated CRD and every controller manifest', async () => {
    const kustomization = parse(await readFile(join(DEPLOY, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    const crds = (await readdir(join(DEPLOY, 'crds'))).filter((f) => f.endsWith('.yaml')).map((f) => `crds/${f}`);
    const controller = (await readdir(join(DEPLOY, 'controller'))).filter((f) => f.endsWith('.yaml')).map((f) => `controller/${f}`);
    assert.deepEqual([...kustomization.resources].sort(), [...crds, ...controller].sort());
  });

  it('the controller runs unprivileged, as non-root, with a read-only root file system', async () => {
    const [deployment] = parseAllDocuments(await readFile(join(DEPLOY, 'controller', 'deployment.yaml'), 'utf8')).map((d) => d.toJS() as {
      spec: { template: { spec: { serviceAccountName: string; securityContext: { runAsNonRoot: boolean }; containers: { securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } } }[] } } };
    });
    const pod = deployment?.spec.template.spec;
    assert.equal(pod?.serviceAccountName, 'kerris-controller');
    assert.equal(pod?.securityContext.runAsNonRoot, true);
    for (const container of pod?.containers ?? []) {
      assert.equal(container.securityContext.allowPrivilegeEscalation, false);
      assert.equal(container.securityContext.readOnlyRootFilesystem, true);
      assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    }
  });
});
