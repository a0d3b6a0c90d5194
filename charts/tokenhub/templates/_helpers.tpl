{{/* Names, labels and the few values several templates derive the same way. */}}

{{- define "tokenhub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>, or <release>-<chart> when the release name does not already contain the chart's. */}}
{{- define "tokenhub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Component names are suffixed, so the prefix is cut to leave them room within 63 characters. */}}
{{- define "tokenhub.componentName" -}}
{{- printf "%s-%s" (include "tokenhub.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "tokenhub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "tokenhub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tokenhub.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Call with (dict "root" $ "component" "operator"). */}}
{{- define "tokenhub.labels" -}}
helm.sh/chart: {{ include "tokenhub.chart" .root }}
{{ include "tokenhub.selectorLabels" . }}
app.kubernetes.io/part-of: tokenhub
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{- define "tokenhub.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "tokenhub.operator.serviceAccountName" -}}
{{- default (include "tokenhub.componentName" (dict "root" . "component" "operator")) .Values.operator.serviceAccount.name -}}
{{- end -}}

{{- define "tokenhub.gateway.serviceAccountName" -}}
{{- default (include "tokenhub.componentName" (dict "root" . "component" "gateway")) .Values.gateway.serviceAccount.name -}}
{{- end -}}

{{/* The fleet ConfigMap; the operator's --fleet-config. */}}
{{- define "tokenhub.fleetConfigName" -}}
{{- include "tokenhub.componentName" (dict "root" . "component" "gateway") -}}
{{- end -}}

{{- define "tokenhub.redis.name" -}}
{{- include "tokenhub.componentName" (dict "root" . "component" "redis") -}}
{{- end -}}

{{/*
The namespaces whose three kinds (and labelled Secrets) TokenHub watches, as a JSON list; "[]"
means all namespaces, which only watchAllNamespaces selects. Default: the release namespace.
*/}}
{{- define "tokenhub.watchedNamespaces" -}}
{{- if .Values.watchAllNamespaces -}}
[]
{{- else -}}
{{- default (list .Release.Namespace) .Values.watchNamespaces | toJson -}}
{{- end -}}
{{- end -}}

{{/* The namespaces whose ModelRoutes are served and whose QuotaPolicies may set ceilings (JSON list). */}}
{{- define "tokenhub.platformNamespaces" -}}
{{- default (list .Release.Namespace) .Values.platformNamespaces | toJson -}}
{{- end -}}

{{/* The Secret and key holding the Redis password: an existing Secret, or the chart's own for the in-chart Redis. */}}
{{- define "tokenhub.redisAuth" -}}
{{- if .Values.redis.auth.existingSecret -}}
{{- dict "name" .Values.redis.auth.existingSecret "key" .Values.redis.auth.secretKey | toJson -}}
{{- else if .Values.redis.enabled -}}
{{- dict "name" (include "tokenhub.redis.name" .) "key" "password" | toJson -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/* The Redis URL the gateways and the operator use: the in-chart Redis, an external one, or none. */}}
{{- define "tokenhub.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s.%s.svc:6379" (include "tokenhub.redis.name" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/*
The restricted Pod Security Standard, for every container the chart runs. A fixed non-root
UID rather than the image's USER, so runAsNonRoot is verifiable by the kubelet for any image.
*/}}
{{- define "tokenhub.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "tokenhub.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* A rules file of files/rbac/ as a YAML list of PolicyRules (the files are the single source). */}}
{{- define "tokenhub.rules" -}}
{{- $rules := .root.Files.Get (printf "files/rbac/%s" .file) | fromYamlArray -}}
{{- if not $rules -}}
{{- fail (printf "files/rbac/%s is missing or not a YAML list of PolicyRules" .file) -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}

{{/* Invariants JSON Schema cannot express across fields; checked once, before anything renders. */}}
{{- define "tokenhub.validate" -}}
{{- if and (gt (int .Values.operator.replicas) 1) (not .Values.operator.leaderElection.enabled) -}}
{{- fail "operator.replicas > 1 needs operator.leaderElection.enabled: two operators without a lease would fight over the same objects" -}}
{{- end -}}
{{- $as := .Values.gateway.autoscaling -}}
{{- if and $as.enabled (gt (int $as.minReplicas) (int $as.maxReplicas)) -}}
{{- fail "gateway.autoscaling.minReplicas must not exceed gateway.autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and .Values.redis.enabled .Values.redis.url -}}
{{- fail "set either redis.enabled (an in-chart Redis) or redis.url (an external one), not both" -}}
{{- end -}}
{{- if not .Values.watchAllNamespaces -}}
{{- $watched := include "tokenhub.watchedNamespaces" . | fromJsonArray -}}
{{- range (include "tokenhub.platformNamespaces" . | fromJsonArray) -}}
{{- if not (has . $watched) -}}
{{- fail (printf "platformNamespaces: %s is not watched (add it to watchNamespaces)" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.networkPolicy.enabled .Values.networkPolicy.egress.restrict (not .Values.networkPolicy.egress.apiServerCIDRs) -}}
{{- fail "networkPolicy.egress.restrict needs networkPolicy.egress.apiServerCIDRs: the operator and the gateways must reach the API server" -}}
{{- end -}}
{{- end -}}
