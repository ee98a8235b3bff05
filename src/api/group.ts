/** The chaos.kerris.dev/v1alpha1 API: every kind the generator renders, in reference order. */
import { networkChaos } from './networkchaos.ts';
import { nodeChaos } from './nodechaos.ts';
import { podChaos } from './podchaos.ts';
import { schedule } from './schedule.ts';
import { statusCheck } from './statuscheck.ts';
import { stressChaos } from './stresschaos.ts';
import { workflow } from './workflow.ts';
import type { ApiGroupVersion } from './resource.ts';

export const chaosApi: ApiGroupVersion = {
  group: 'chaos.kerris.dev',
  version: 'v1alpha1',
  kinds: [podChaos, networkChaos, stressChaos, nodeChaos, statusCheck, schedule, workflow],
};

export const referenceIntro = `
kerris keeps Chaos Mesh's field names and meanings where they serve, so a Chaos Mesh manifest usually ports by changing its \`apiVersion\`; each kind's last section lists where it does not.

Install the CRDs with \`kubectl apply --server-side -f deploy/crds/\` (server-side, so that adding kinds never runs into the 256 KiB limit on the annotation a client-side apply keeps).

The apiserver itself validates every object (enums, bounds, patterns and CEL rules in the CRD schema), so a bad spec is rejected at \`kubectl apply\` with a message saying what to fix; no admission webhook is involved.
`;
