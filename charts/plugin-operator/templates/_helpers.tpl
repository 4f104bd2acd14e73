{{- /*
Names and labels shared by every template: one place to change them, so all objects agree.
*/}}

{{- /* The name of the release's namespaced objects (Deployment, Service, ServiceAccount, ...). */}}
{{- define "plugin-operator.fullname" -}}
{{ .Release.Name }}
{{- end }}

{{- /* Cluster-scoped objects (ClusterRole and its bindings) are shared by all namespaces: prefix the namespace. */}}
{{- define "plugin-operator.clusterName" -}}
{{ .Release.Namespace }}-{{ .Release.Name }}
{{- end }}

{{- /* What selects the operator's pods: never changes across upgrades (selectors are immutable). */}}
{{- define "plugin-operator.selectorLabels" -}}
app.kubernetes.io/name: plugin-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- /* The recommended labels of every object of the chart. */}}
{{- define "plugin-operator.labels" -}}
{{ include "plugin-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: hyperspot-analytics
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}
