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

{{/*
The standard OpenTelemetry variables of one process (@tds/telemetry reads only these):
(dict "root" $ "service" "tds-operator" "component" "operator"). With no
telemetry.otlpEndpoint the SDK exports no traces.
*/}}
{{- define "tds.otelEnv" -}}
{{- $t := .root.Values.telemetry }}
- { name: OTEL_SERVICE_NAME, value: {{ .service | quote }} }
- { name: OTEL_K8S_POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
- { name: OTEL_K8S_POD_UID, valueFrom: { fieldRef: { fieldPath: metadata.uid } } }
- { name: OTEL_K8S_NODE_NAME, valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }
{{- $attrs := list (printf "service.namespace=%s" .root.Release.Namespace) (printf "service.version=%s" .root.Chart.AppVersion) (printf "k8s.namespace.name=%s" .root.Release.Namespace) "k8s.pod.name=$(OTEL_K8S_POD_NAME)" "k8s.pod.uid=$(OTEL_K8S_POD_UID)" "k8s.node.name=$(OTEL_K8S_NODE_NAME)" (printf "k8s.container.name=%s" .container) }}
{{- range $k, $v := $t.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) }}
{{- end }}
- { name: OTEL_RESOURCE_ATTRIBUTES, value: {{ join "," $attrs | quote }} }
{{- if $t.otlpEndpoint }}
- { name: OTEL_TRACES_EXPORTER, value: otlp }
- { name: OTEL_EXPORTER_OTLP_ENDPOINT, value: {{ $t.otlpEndpoint | quote }} }
- { name: OTEL_EXPORTER_OTLP_PROTOCOL, value: {{ $t.otlpProtocol | quote }} }
{{- else }}
- { name: OTEL_TRACES_EXPORTER, value: none }
{{- end }}
- { name: OTEL_METRICS_EXPORTER, value: none }
- { name: OTEL_LOGS_EXPORTER, value: none }
- { name: OTEL_TRACES_SAMPLER, value: {{ $t.sampler | quote }} }
{{- with $t.samplerArg }}
- { name: OTEL_TRACES_SAMPLER_ARG, value: {{ . | quote }} }
{{- end }}
{{- end }}
