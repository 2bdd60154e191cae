{{/* The release's base name: the release name, with "-osprey" unless it already says so. */}}
{{- define "osprey.fullname" -}}
{{- if contains "osprey" .Release.Name -}}
{{- .Release.Name | trunc 57 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-osprey" .Release.Name | trunc 57 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "osprey.labels" -}}
app.kubernetes.io/name: osprey
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "osprey.selectorLabels" -}}
app.kubernetes.io/name: osprey
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "osprey.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The server's Service URL for a listener: (list . "HTTP"). */}}
{{- define "osprey.serverURL" -}}
{{- $root := index . 0 -}}
{{- $listener := index . 1 -}}
{{- $port := index $root.Values.server.listeners $listener -}}
{{- if or (not $port) (eq (toString $port) "off") -}}
{{- fail (printf "server.listeners.%s is off, but the agent needs it (or set the agent's URL for it)" $listener) -}}
{{- end -}}
http://{{ include "osprey.fullname" $root }}.{{ $root.Release.Namespace }}.svc:{{ $port }}
{{- end -}}

{{/* A listener's port name: JAEGER_COMPACT → jaeger-compact. */}}
{{- define "osprey.portName" -}}
{{ . | lower | replace "_" "-" }}
{{- end -}}
