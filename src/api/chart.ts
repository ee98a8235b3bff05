/**
 * The Helm chart's files derived from the schema source (charts/kerris): the CRDs, as in deploy/crds (Helm installs
 * crds/ untemplated), and the requester-access policy as a template that gives it the chart's labels.
 */
import { stringify } from 'yaml';
import { requesterAccessObjects } from './admission.ts';
import { generatedHeader } from './crd.ts';
import type { ApiGroupVersion } from './resource.ts';

const LABELS = 'KERRIS_CHART_LABELS';
/** Stands for the release namespace in the generated text until it is made a template. */
const NAMESPACE = 'kerris-chart-release-namespace';

export class ChartTemplateError extends Error {
  override name = 'ChartTemplateError';
}

/**
 * The policy and its binding as a Helm template: the labels come from the chart's helper (templates/_helpers.tpl),
 * everything else is the generated text. CEL that contained `{{` would be read by Helm as template, so it is refused.
 */
export function requesterAccessTemplate(api: ApiGroupVersion): string {
  const docs = requesterAccessObjects(api, NAMESPACE).map((object) => {
    const yaml = stringify({ ...object, metadata: { ...object.metadata, labels: LABELS } }, { lineWidth: 0, indent: 2 });
    if (yaml.includes('{{')) throw new ChartTemplateError(`${object.kind} ${object.metadata.name} contains "{{", which Helm would read as a template`);
    const line = `  labels: ${LABELS}\n`;
    if (yaml.split(line).length !== 2) throw new ChartTemplateError(`${object.kind} ${object.metadata.name}: expected one "${line.trim()}" line in its YAML`);
    const component = object.metadata.labels['app.kubernetes.io/component'] ?? '';
    return yaml.replace(line, `  labels:\n    {{- include "kerris.labels" (dict "context" $ "component" ${JSON.stringify(component)}) | nindent 4 }}\n`)
      .replaceAll(NAMESPACE, '{{ .Release.Namespace }}');
  });
  return `# ${generatedHeader}\n${docs.join('---\n')}`;
}
