{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "cascadeflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: the release name, plus the chart name unless the release already contains it. */}}
{{- define "cascadeflow.fullname" -}}
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

{{- define "cascadeflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "cascadeflow.labels" -}}
helm.sh/chart: {{ include "cascadeflow.chart" . }}
app.kubernetes.io/name: {{ include "cascadeflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cascadeflow
{{- end }}

{{/* Labels on the manager's Deployment, pods and metrics Service. */}}
{{- define "cascadeflow.managerLabels" -}}
{{ include "cascadeflow.labels" . }}
app.kubernetes.io/component: manager
{{- end }}

{{/* Labels that select the manager pods; they must never change (a Deployment's selector is immutable). */}}
{{- define "cascadeflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cascadeflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{- define "cascadeflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cascadeflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cascadeflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "cascadeflow.proxyImage" -}}
{{- printf "%s:%s" .Values.proxyImage.repository (default .Chart.AppVersion .Values.proxyImage.tag) }}
{{- end }}

{{/* Name of the chart's Redis: its StatefulSet, Service, ConfigMap and generated password Secret. */}}
{{- define "cascadeflow.redisName" -}}
{{- printf "%s-redis" (include "cascadeflow.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret holding the Redis password, in the release namespace. */}}
{{- define "cascadeflow.redisSecretName" -}}
{{- default (include "cascadeflow.redisName" .) .Values.limitsRedis.auth.existingSecret }}
{{- end }}

{{/* The address routes put in spec.proxy.limits.redis.address. */}}
{{- define "cascadeflow.redisAddress" -}}
{{- printf "%s.%s.svc:6379" (include "cascadeflow.redisName" .) .Release.Namespace }}
{{- end }}

{{/* Labels that select the Redis pod; they must never change (a StatefulSet's selector is immutable). */}}
{{- define "cascadeflow.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "cascadeflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: limits-redis
{{- end }}

{{/* Manager flags naming the Redis of routes with clientKeys that name none: the chart's, or an existing one. */}}
{{- define "cascadeflow.limitsRedisArgs" -}}
{{- $r := .Values.limitsRedis }}
{{- if and $r.enabled $r.external.address }}
{{- fail "limitsRedis.enabled deploys a Redis; limitsRedis.external.address names an existing one: set one of them" }}
{{- end }}
{{- if $r.enabled }}
- --limits-redis={{ include "cascadeflow.redisAddress" . }}
- --limits-redis-password-secret={{ include "cascadeflow.redisSecretName" . }}
- --limits-redis-password-key={{ $r.auth.secretKey }}
{{- if $r.tls.existingSecret }}
- --limits-redis-tls
{{- with $r.tls.routeCASecret }}
- --limits-redis-ca-secret={{ . }}
{{- end }}
{{- end }}
{{- else if $r.external.address }}
- --limits-redis={{ $r.external.address }}
{{- with $r.external.username }}
- --limits-redis-username={{ . }}
{{- end }}
{{- if $r.external.tls }}
- --limits-redis-tls
{{- end }}
{{- with $r.external.passwordSecret }}
- --limits-redis-password-secret={{ . }}
- --limits-redis-password-key={{ $r.external.passwordKey }}
{{- end }}
{{- with $r.external.caSecret }}
- --limits-redis-ca-secret={{ . }}
- --limits-redis-ca-key={{ $r.external.caKey }}
{{- end }}
{{- end }}
{{- end }}
