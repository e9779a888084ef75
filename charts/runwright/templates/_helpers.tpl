{{/* The chart's name, overridable. */}}
{{- define "runwright.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: <release>-runwright unless the release name has it already. */}}
{{- define "runwright.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "runwright.selectorLabels" -}}
app.kubernetes.io/name: {{ include "runwright.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "runwright.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "runwright.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: runwright
{{- end }}

{{- define "runwright.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "runwright.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The namespaced permissions: exactly the API calls the operator makes (README.md,
"RBAC"). Bound cluster-wide by a ClusterRole when watchNamespaces is empty, else
by a Role in each watched namespace.
*/}}
{{- define "runwright.namespacedRules" -}}
- apiGroups: ["runwright.dev"]
  resources: ["pipelineruns"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["runwright.dev"]
  resources: ["pipelineruns/status"]
  verbs: ["patch"]
- apiGroups: ["runwright.dev"]
  resources: ["pipelines"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["runwright.dev"]
  resources: ["pipelines/status"]
  verbs: ["patch"]
- apiGroups: ["runwright.dev"]
  resources: ["triggers"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["runwright.dev"]
  resources: ["triggers/status"]
  verbs: ["patch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["events"]
  # list: the run archive stores a finished run's Events
  verbs: ["create", "list"]
- apiGroups: [""]
  resources: ["pods/log"]
  # the run archive stores each attempt's log tail
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}

{{/* A resource map as the operator's --default-requests/--default-limits want it: cpu=100m,memory=128Mi. */}}
{{- define "runwright.quantities" -}}
{{- $parts := list }}
{{- range $name, $value := . }}
{{- $parts = append $parts (printf "%s=%v" $name $value) }}
{{- end }}
{{- join "," $parts }}
{{- end }}
