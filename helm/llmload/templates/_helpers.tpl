{{- define "llmload.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "llmload.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "llmload.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "llmload.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "llmload.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "llmload.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
Where the run history lives: "database" (database.url or database.existingSecret), "claim" (SQLite on a
PersistentVolumeClaim, the default) or "ephemeral" (SQLite on an emptyDir: persistence.enabled=false).
*/}}
{{- define "llmload.history" -}}
{{- if hasKey (.Values.database.sqlite | default dict) "persistence" -}}
{{- fail "database.sqlite.persistence has moved to persistence (enabled, existingClaim, storageClass, size): see values.yaml" -}}
{{- end -}}
{{- if or .Values.database.url .Values.database.existingSecret -}}
database
{{- else if .Values.persistence.enabled -}}
claim
{{- else -}}
ephemeral
{{- end -}}
{{- end -}}

{{/* The claim the SQLite history is on (history "claim" only). */}}
{{- define "llmload.historyClaim" -}}
{{- default (printf "%s-data" (include "llmload.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* Whether the operator gets Secrets: asked for, or needed without the webhook (opt-in labels, types). */}}
{{- define "llmload.readSecrets" -}}
{{- if or .Values.rbac.readSecrets (not .Values.webhook.enabled) -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{- define "llmload.loadgenImage" -}}
{{- default (include "llmload.image" .) .Values.loadgenImage -}}
{{- end -}}

{{/* Images a spec may name: the chart's list, else the operator's own load generator. */}}
{{- define "llmload.allowedImages" -}}
{{- if .Values.loadGenerator.allowedImages -}}
{{- join "," .Values.loadGenerator.allowedImages -}}
{{- else -}}
{{- include "llmload.loadgenImage" . -}}
{{- end -}}
{{- end -}}

{{/*
The ValidatingWebhookConfiguration's name. It changes with what the configuration covers (the watched
namespaces, the failure policy), so its creationTimestamp is when that coverage began: the operator holds
objects created before it to the opt-in rule (docs/security.md, core/reviewed.py).
*/}}
{{- define "llmload.webhookConfigurationName" -}}
{{- $coverage := dict "namespaces" .Values.watchNamespaces "failurePolicy" .Values.webhook.failurePolicy -}}
{{- printf "%s-%s-%s" (include "llmload.fullname" .) .Release.Namespace (toJson $coverage | sha256sum | trunc 8) -}}
{{- end -}}

{{- define "llmload.webhookName" -}}
{{- printf "%s-webhook" (include "llmload.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The operator's own user name, whose writes (a CapacityRecommendation's children) the webhook trusts. */}}
{{- define "llmload.operatorUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "llmload.serviceAccountName" .) -}}
{{- end -}}

{{- define "llmload.resultsSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: results
{{- end -}}
