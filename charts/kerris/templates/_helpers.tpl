{{/*
Labels. The selector labels (name, component) are exactly those of deploy/: the controller finds its daemon pods by
app.kubernetes.io/name=kerris,app.kubernetes.io/component=daemon (src/controller/daemons/fleet.ts), and a workload's
selector cannot change after install. Pod templates carry only these, so a chart upgrade alone restarts no pod.
*/}}

{{- define "kerris.chart" -}}
{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: call with (dict "component" "controller"). */}}
{{- define "kerris.selectorLabels" -}}
app.kubernetes.io/name: kerris
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every object's labels: call with (dict "context" $ "component" "controller"). */}}
{{- define "kerris.labels" -}}
{{ include "kerris.selectorLabels" . }}
app.kubernetes.io/part-of: kerris
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
helm.sh/chart: {{ include "kerris.chart" .context }}
{{- end }}

{{/* An image reference from (dict "repository" … "tag" …). */}}
{{- define "kerris.image" -}}
{{ .repository }}:{{ .tag }}
{{- end }}
