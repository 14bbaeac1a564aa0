{{/*
Chart name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "punctual.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, prefixed to the chart name unless it already contains it.
*/}}
{{- define "punctual.fullname" -}}
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

{{- define "punctual.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: stable for the life of a release (Deployment selectors are immutable).
*/}}
{{- define "punctual.selectorLabels" -}}
app.kubernetes.io/name: {{ include "punctual.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Standard labels on every object. part-of is constant: the ServiceMonitor uses it as the job label,
so the PunctualOperatorDown alert finds job="punctual" whatever the release is called.
*/}}
{{- define "punctual.labels" -}}
helm.sh/chart: {{ include "punctual.chart" . }}
{{ include "punctual.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: punctual
{{- end }}

{{- define "punctual.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "punctual.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "punctual.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Sharding: the chart renders one Deployment per shard when shards > 1. shards = 1 renders exactly
what the chart rendered before sharding existed: the Deployment is named <fullname> and its
selector (immutable) has no shard label, so upgrades of existing installs keep working.

The per-shard helpers below take a dict: root (the top-level context) and shard (0..shards-1).
*/}}
{{- define "punctual.sharded" -}}
{{- if gt (int .Values.shards) 1 }}true{{ end }}
{{- end }}

{{/*
A shard's workload name: <fullname> unsharded, <fullname>-shard-<k> (truncated to 63) otherwise.
*/}}
{{- define "punctual.shardName" -}}
{{- $fullname := include "punctual.fullname" .root }}
{{- if include "punctual.sharded" .root }}
{{- $suffix := printf "-shard-%d" (int .shard) }}
{{- printf "%s%s" ($fullname | trunc (sub 63 (len $suffix) | int) | trimSuffix "-") $suffix }}
{{- else }}
{{- $fullname }}
{{- end }}
{{- end }}

{{/*
A shard's selector labels: the release's selector labels plus punctual.dev/shard when sharded.
Every operator pod carries the release's selector labels, so the metrics Service (which selects
by those alone) covers every shard.
*/}}
{{- define "punctual.shardSelectorLabels" -}}
{{ include "punctual.selectorLabels" .root }}
{{- if include "punctual.sharded" .root }}
punctual.dev/shard: {{ .shard | toString | quote }}
{{- end }}
{{- end }}

{{/*
A shard's leader-election Lease (PUNCTUAL_LEASE_NAME, in the release namespace): <fullname>-leader
unsharded, <fullname>-shard-<k>-leader sharded, so that each shard elects its own leader.
*/}}
{{- define "punctual.shardLease" -}}
{{- printf "%s-leader" (include "punctual.shardName" .) }}
{{- end }}

{{/*
The PodDisruptionBudget's apiVersion: policy/v1 where the server serves it (1.21 and later),
policy/v1beta1 before (1.20; v1beta1 is gone from 1.25). A cluster's discovery lists both
"policy/v1" and "policy/v1/PodDisruptionBudget"; `helm template` without a cluster knows no
resources, only --api-versions and --kube-version, so the version decides there.
*/}}
{{- define "punctual.pdbApiVersion" -}}
{{- if .Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget" }}policy/v1
{{- else if .Capabilities.APIVersions.Has "policy/v1beta1/PodDisruptionBudget" }}policy/v1beta1
{{- else if semverCompare ">=1.21.0-0" .Capabilities.KubeVersion.Version }}policy/v1
{{- else }}policy/v1beta1
{{- end }}
{{- end }}

{{/*
Fail early on combinations the schema cannot express.
*/}}
{{- define "punctual.validate" -}}
{{- if and (eq .Values.rbac.scope "namespace") (not .Values.watchNamespaces) }}
{{- fail "rbac.scope=namespace needs watchNamespaces: the operator gets no cluster-wide permissions" }}
{{- end }}
{{- end }}

{{/*
The operator's permissions on namespaced resources: one list shared by the ClusterRole (cluster
scope) and the per-namespace Roles (namespace scope). Every verb is spelled out; no wildcards.
Exactly what the code calls (operator/punctual/runtime/kube.py and kopf), nothing more: docs/install.md has
the table and why; tests/tools/tools_support.py (OPERATOR_RBAC) the set the render test compares.
*/}}
{{- define "punctual.namespacedRules" -}}
# The ScheduledJobs: kopf lists and watches them; it patches one only to take off a finalizer an
# older kopf-based version left behind (our handlers need none).
- apiGroups: ["punctual.dev"]
  resources: ["scheduledjobs"]
  verbs: ["list", "watch", "patch"]
# Calendars (spec.calendars): listed and watched, so that a changed holiday list applies at once.
- apiGroups: ["punctual.dev"]
  resources: ["calendars"]
  verbs: ["list", "watch"]
# The operator's status writes: one merge patch each.
- apiGroups: ["punctual.dev"]
  resources: ["scheduledjobs/status"]
  verbs: ["patch"]
# Each Job's ownerReference sets blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
# admission plugin (on by default on OpenShift) allows only to who may update the owner's finalizers.
- apiGroups: ["punctual.dev"]
  resources: ["scheduledjobs/finalizers"]
  verbs: ["update"]
# The runs: listed and watched (label selector), one created per slot, read back to adopt on
# AlreadyExists, deleted by history limits and the Replace policy.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
# Pods of the runs, listed and watched: for exit codes, images and start times.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# Events on ScheduledJobs: the operator posts core v1 Events (kopf's own posting is off).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/*
The web UI's labels. Its name differs from the operator's (punctual-ui), so the operator's
Deployment and metrics Service, which select by the release's selector labels, never match it.
*/}}
{{- define "punctual.uiSelectorLabels" -}}
app.kubernetes.io/name: {{ include "punctual.name" . }}-ui
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "punctual.uiLabels" -}}
helm.sh/chart: {{ include "punctual.chart" . }}
{{ include "punctual.uiSelectorLabels" . }}
app.kubernetes.io/component: ui
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: punctual
{{- end }}

{{/*
What kubectl sj ui reads and writes (operator/kubectl_sj/ui/server.py through kubectl_sj/client.py):
the ScheduledJobs (listed, read, patched: Run now's annotation and spec.suspend), their Jobs, the
Jobs' Pods and logs, and the Events about them. Nothing else.
*/}}
{{- define "punctual.uiRules" -}}
- apiGroups: ["punctual.dev"]
  resources: ["scheduledjobs"]
  verbs: ["get", "list", "patch"]
- apiGroups: ["punctual.dev"]
  resources: ["calendars"]
  verbs: ["list"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list"]
{{- end }}
