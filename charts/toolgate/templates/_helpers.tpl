{{- define "toolgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "toolgate.injectorName" -}}{{ include "toolgate.fullname" . }}-injector{{- end -}}

{{- define "toolgate.labels" -}}
app.kubernetes.io/name: toolgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "toolgate.injectorSelector" -}}
app.kubernetes.io/name: toolgate
app.kubernetes.io/instance: {{ .Release.Name }}
toolgate.dev/component: injector
{{- end -}}

{{- define "toolgate.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{- define "toolgate.tlsSecretName" -}}
{{- if eq .Values.certificate.mode "secret" -}}{{ .Values.certificate.secretName }}{{- else -}}{{ include "toolgate.injectorName" . }}-tls{{- end -}}
{{- end -}}

{{- define "toolgate.webhookConfigName" -}}{{ include "toolgate.fullname" . }}-{{ .Release.Namespace }}{{- end -}}

{{- define "toolgate.policyBundleOn" -}}
{{- if and .Values.policyBundle.enabled (.Files.Get "files/policy-bundle.tar.gz") -}}true{{- end -}}
{{- end -}}

{{/* Namespaces the webhook never calls for: the system ones and the release's own. */}}
{{- define "toolgate.skippedNamespaces" -}}
{{- $ns := concat .Values.injection.skipNamespaces (list .Release.Namespace) | uniq -}}
{{- toJson $ns -}}
{{- end -}}
