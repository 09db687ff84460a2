{{/* The chart's name, and the release-prefixed base of every object's name. */}}
{{- define "tds.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tds.fullname" -}}
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

{{- define "tds.operator.fullname" -}}
{{- printf "%s-operator" (include "tds.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tds.dashboardApi.fullname" -}}
{{- printf "%s-dashboard-api" (include "tds.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tds.gateway.fullname" -}}
{{- printf "%s-gateway" (include "tds.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The standard labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/). */}}
{{- define "tds.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "tds.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tds
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "operator"). */}}
{{- define "tds.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tds.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tds.componentLabels" -}}
{{ include "tds.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The image reference: by digest when one is set, else by tag (default appVersion). */}}
{{- define "tds.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The identities allowed to set decision and review annotations (the admission policies). */}}
{{- define "tds.deciders" -}}
request.userInfo.username in [
'system:serviceaccount:{{ .Release.Namespace }}:{{ include "tds.operator.fullname" . }}',
'system:serviceaccount:{{ .Release.Namespace }}:{{ include "tds.dashboardApi.fullname" . }}'] ||
(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in {{ toJson .Values.admissionPolicies.reviewerGroups | replace "\"" "'" }}))
{{- end }}

{{/*
The pod-level settings both Deployments share: (dict "root" $ "values" .Values.operator).
Scheduling keys, pull secrets, the security context and the writable /tmp.
*/}}
{{- define "tds.podSpecCommon" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext: {{ toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- end }}

{{- define "tds.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: { drop: ["ALL"] }
{{- end }}
