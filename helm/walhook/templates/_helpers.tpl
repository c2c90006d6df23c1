{{- define "walhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "walhook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "walhook.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "walhook.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "walhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "walhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "walhook.labels" -}}
{{ include "walhook.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "walhook.secretName" -}}
{{- default (include "walhook.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "walhook.configFile" -}}
/etc/walhook/walhook.yaml
{{- end }}

{{/* PromQL matchers for this release's series: the job a ServiceMonitor gives them is the Service's name. */}}
{{- define "walhook.seriesSelector" -}}
{{- .Values.metrics.prometheusRule.seriesSelector | default (printf "namespace=%q, job=%q" .Release.Namespace (include "walhook.fullname" .)) }}
{{- end }}

{{/* An HTTP probe on the named port: (dict "path" "/healthz" "timings" .Values.livenessProbe). */}}
{{- define "walhook.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{ toYaml .timings }}
{{- end }}

{{- define "walhook.podAntiAffinity" -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "walhook.selectorLabels" . | fromYaml)) }}
{{- if eq .Values.podAntiAffinity "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    {{- list $term | toYaml | nindent 4 }}
{{- else if eq .Values.podAntiAffinity "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    {{- list (dict "weight" 100 "podAffinityTerm" $term) | toYaml | nindent 4 }}
{{- end }}
{{- end }}
