{{/*
A component's rules file bound to its ServiceAccount: a ClusterRole + ClusterRoleBinding only
when watchAllNamespaces is chosen, else a Role + RoleBinding in each watched namespace (by
default the release namespace alone).
Call with (dict "root" $ "component" "gateway" "file" "gateway.yaml" "serviceAccount" NAME).
*/}}
{{- define "tokenhub.scopedRbac" -}}
{{- $labels := dict "root" .root "component" .component -}}
{{- $name := include "tokenhub.componentName" $labels -}}
{{- $ctx := dict "labels" $labels "name" $name "serviceAccount" .serviceAccount
      "saNamespace" .root.Release.Namespace
      "rules" (include "tokenhub.rules" (dict "root" .root "file" .file)) -}}
{{- if .root.Values.watchAllNamespaces -}}
{{- include "tokenhub.roleAndBinding" (merge (dict "kind" "ClusterRole") $ctx) -}}
{{- else -}}
{{- range $i, $ns := include "tokenhub.watchedNamespaces" .root | fromJsonArray -}}
{{- if $i }}
---
{{ end -}}
{{- include "tokenhub.roleAndBinding" (merge (dict "kind" "Role" "namespace" $ns) $ctx) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One Role or ClusterRole with its binding to one ServiceAccount. */}}
{{- define "tokenhub.roleAndBinding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}
metadata:
  name: {{ .name }}
  {{- with .namespace }}
  namespace: {{ . }}
  {{- end }}
  labels:
    {{- include "tokenhub.labels" .labels | nindent 4 }}
rules:
  {{- .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}Binding
metadata:
  name: {{ .name }}
  {{- with .namespace }}
  namespace: {{ . }}
  {{- end }}
  labels:
    {{- include "tokenhub.labels" .labels | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ .kind }}
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ .serviceAccount }}
    namespace: {{ .saNamespace }}
{{- end -}}
