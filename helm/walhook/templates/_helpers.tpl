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

{{/* An HTTP probe on the ops port: (dict "path" "/healthz" "timings" .Values.livenessProbe). */}}
{{- define "walhook.probe" -}}
httpGet:
  path: {{ .path }}
  port: ops
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

{{/* The names the API answers (api.allowedHosts): the Service's in-cluster names, then allowedHosts. */}}
{{- define "walhook.allowedHosts" -}}
{{- $service := include "walhook.fullname" . }}
{{- $names := list $service (printf "%s.%s" $service .Release.Namespace) (printf "%s.%s.svc" $service .Release.Namespace) (printf "%s.%s.svc.cluster.local" $service .Release.Namespace) }}
{{- concat $names .Values.allowedHosts | toJson }}
{{- end }}

{{/*
The salt of the Secret's checksum annotation: the value, else the one the
release's Secret already holds, else a new random one. A bare hash of the
Secret in a pod annotation would let anyone who can read pods test guesses of
its values offline.
*/}}
{{- define "walhook.secretChecksumSalt" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "walhook.fullname" .) }}
{{- $kept := "" }}
{{- if $existing }}{{ $kept = index ($existing.data | default dict) "checksum-salt" | default "" | b64dec }}{{ end }}
{{- if not .Values.secretChecksumSalt }}
{{- /* Kept in the values for the rest of this render, so the Secret and the annotation use the same salt. */}}
{{- $_ := set .Values "secretChecksumSalt" ($kept | default (randAlphaNum 32)) }}
{{- end }}
{{- .Values.secretChecksumSalt }}
{{- end }}

{{/* Fails the render when values.config would put a secret into the ConfigMap, which anyone reading ConfigMaps can read. */}}
{{- define "walhook.refuseSecretsInConfig" -}}
{{- $config := .Values.config | default dict }}
{{- range $index, $webhook := $config.webhooks | default list }}
{{- if and $webhook.secret (not (regexMatch "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$" (toString $webhook.secret))) }}
{{- fail (printf "config.webhooks[%d].secret is a literal and would be stored in the ConfigMap: put it in a Secret, expose it with extraEnv (secretKeyRef) and write ${VARIABLE} here" $index) }}
{{- end }}
{{- end }}
{{- range $key := list "encryptionKey" }}
{{- if hasKey $config $key }}{{ fail (printf "config.%s belongs in secret.%s (or existingSecret), not in the ConfigMap" $key $key) }}{{ end }}
{{- end }}
{{- if and $config.api (hasKey $config.api "token") }}{{ fail "config.api.token belongs in secret.apiToken (or existingSecret), not in the ConfigMap" }}{{ end }}
{{- range $path, $url := dict "database.url" (dig "database" "url" "" $config) "state.databaseUrl" (dig "state" "databaseUrl" "" $config) }}
{{- if regexMatch "://[^/@]*:[^/@]*@" (toString $url) }}{{ fail (printf "config.%s holds a password and would be stored in the ConfigMap: use secret.databaseUrl, or ${VARIABLE} from a Secret" $path) }}{{ end }}
{{- end }}
{{- end }}
