{{/*
Names, labels and the checks that span several values.
*/}}

{{- define "confab.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* `<release>-confab`, or the release name alone when it already says confab. */}}
{{- define "confab.fullname" -}}
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

{{- define "confab.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "confab.selectorLabels" -}}
app.kubernetes.io/name: {{ include "confab.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of everything the chart makes, but for app.kubernetes.io/component. */}}
{{- define "confab.commonLabels" -}}
helm.sh/chart: {{ include "confab.chart" . }}
{{ include "confab.selectorLabels" . }}
app.kubernetes.io/part-of: confab
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "confab.labels" -}}
{{ include "confab.commonLabels" . }}
app.kubernetes.io/component: node
{{- end -}}

{{- define "confab.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "confab.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "confab.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The Secret the pods read: the operator's, or the one the chart creates ("" for none). */}}
{{- define "confab.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if include "confab.createSecret" . -}}
{{- printf "%s-secrets" (include "confab.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Non-empty when the chart creates the Secret from values. */}}
{{- define "confab.createSecret" -}}
{{- $s := .Values.secrets -}}
{{- if and (not $s.existingSecret) (or $s.jwtSecret $s.databaseUrl $s.redisUrl $s.natsUrl $s.webhookSecret $s.s3SecretAccessKey) -}}
true
{{- end -}}
{{- end -}}

{{/*
The secret-backed settings the pods get, as a list of "ENV_NAME=valueKey" items:
with an existing Secret, every key the mode needs (the webhook secret when
config.webhook_urls is set, the S3 secret access key when config.s3_bucket is set);
with a chart-made one, the keys given in values.
*/}}
{{- define "confab.secretEnv" -}}
{{- $s := .Values.secrets -}}
{{- $all := list (list "CONFAB_JWT_SECRET" "jwtSecret") (list "CONFAB_DATABASE_URL" "databaseUrl") (list "CONFAB_REDIS_URL" "redisUrl") (list "CONFAB_NATS_URL" "natsUrl") (list "CONFAB_WEBHOOK_SECRET" "webhookSecret") (list "CONFAB_S3_SECRET_ACCESS_KEY" "s3SecretAccessKey") -}}
{{- range $all -}}
{{- $env := index . 0 -}}
{{- $field := index . 1 -}}
{{- if $s.existingSecret -}}
{{- if eq $field "webhookSecret" -}}
{{- if $.Values.config.webhook_urls }}
- {{ $env }}={{ index $s.keys $field }}
{{- end -}}
{{- else if eq $field "s3SecretAccessKey" -}}
{{- if $.Values.config.s3_bucket }}
- {{ $env }}={{ index $s.keys $field }}
{{- end -}}
{{- else if or (eq $.Values.mode "cluster") (has $field (list "jwtSecret" "databaseUrl")) }}
- {{ $env }}={{ index $s.keys $field }}
{{- end -}}
{{- else if index $s $field }}
- {{ $env }}={{ index $s.keys $field }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether the database URL comes from the Secret (otherwise standalone SQLite). */}}
{{- define "confab.databaseFromSecret" -}}
{{- if or .Values.secrets.existingSecret .Values.secrets.databaseUrl -}}
true
{{- end -}}
{{- end -}}

{{/* The grace period: preStop sleep + the longest the node may take to stop + a margin. */}}
{{- define "confab.minGracePeriod" -}}
{{- $c := .Values.config -}}
{{- $deadline := max (int (default 25 $c.drain_deadline_secs)) (int (default 30 $c.shutdown_timeout_secs)) -}}
{{- add (int .Values.lifecycle.preStopSleepSeconds) $deadline -}}
{{- end -}}

{{- define "confab.gracePeriod" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add (include "confab.minGracePeriod" . | int) 10 -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds | int -}}
{{- end -}}
{{- end -}}

{{- define "confab.scheme" -}}
{{- if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}

{{/* Refuses value combinations that would deploy something that cannot work. */}}
{{- define "confab.validate" -}}
{{- $v := .Values -}}
{{- $s := $v.secrets -}}
{{- if eq $v.mode "standalone" -}}
  {{- if $v.autoscaling.enabled -}}
    {{- fail "autoscaling needs mode: cluster (a standalone node keeps its directory and bus in-process)" -}}
  {{- end -}}
  {{- if gt (int $v.replicaCount) 1 -}}
    {{- fail "replicaCount > 1 needs mode: cluster (standalone nodes would not see each other)" -}}
  {{- end -}}
  {{- if $v.migrations.job -}}
    {{- fail "migrations.job needs mode: cluster" -}}
  {{- end -}}
{{- else -}}
  {{- if not $s.existingSecret -}}
    {{- range $field := list "jwtSecret" "databaseUrl" "redisUrl" "natsUrl" -}}
      {{- if not (index $s $field) -}}
        {{- fail (printf "mode: cluster needs secrets.existingSecret, or secrets.%s for a chart-made Secret" $field) -}}
      {{- end -}}
    {{- end -}}
  {{- end -}}
  {{- if $v.migrations.job -}}
    {{- if not $s.existingSecret -}}
      {{- fail "migrations.job needs secrets.existingSecret: the hook Job runs before the chart's own Secret exists" -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- if and $s.jwtSecret (lt (len $s.jwtSecret) 32) -}}
  {{- fail "secrets.jwtSecret must be at least 32 bytes long" -}}
{{- end -}}
{{- if and $s.webhookSecret (lt (len $s.webhookSecret) 16) -}}
  {{- fail "secrets.webhookSecret must be at least 16 bytes long" -}}
{{- end -}}
{{- if and $v.config.webhook_urls (not $s.existingSecret) (not $s.webhookSecret) -}}
  {{- fail "config.webhook_urls needs the webhook secret: secrets.existingSecret with the key secrets.keys.webhookSecret, or secrets.webhookSecret for a chart-made Secret" -}}
{{- end -}}
{{- if and (eq $v.mode "cluster") (not $v.config.s3_bucket) -}}
  {{- fail "mode: cluster needs config.s3_bucket: every node must read the files the others stored, and a pod has no shared directory (docs/deploy.md, \"Attachments and object storage\")" -}}
{{- end -}}
{{- if $v.config.s3_bucket -}}
  {{- if not $v.config.s3_access_key_id -}}
    {{- fail "config.s3_bucket needs config.s3_access_key_id" -}}
  {{- end -}}
  {{- if and (not $s.existingSecret) (not $s.s3SecretAccessKey) -}}
    {{- fail "config.s3_bucket needs the S3 secret access key: secrets.existingSecret with the key secrets.keys.s3SecretAccessKey, or secrets.s3SecretAccessKey for a chart-made Secret" -}}
  {{- end -}}
{{- end -}}
{{- $ing := $v.ingress -}}
{{- if and $ing.enabled $ing.websocket.nginx $ing.websocket.maxBodySize -}}
  {{- $limit := include "confab.sizeBytes" $ing.websocket.maxBodySize | int64 -}}
  {{- if and (ne $limit 0) (lt $limit (include "confab.maxUploadBytes" . | int64)) -}}
    {{- fail (printf "ingress.websocket.maxBodySize (%s) is below config.max_upload_bytes (%s bytes): nginx would refuse such uploads with 413; raise it, or leave it empty to derive it" $ing.websocket.maxBodySize (include "confab.maxUploadBytes" .)) -}}
  {{- end -}}
{{- end -}}
{{- $cs := $v.clusterSecurity -}}
{{- if and (not $cs.existingSecret) (or $cs.natsAuth $cs.redisCa $cs.natsCa $cs.natsClientCert) -}}
  {{- fail "clusterSecurity's natsAuth, redisCa, natsCa and natsClientCert need clusterSecurity.existingSecret" -}}
{{- end -}}
{{- if and (eq $v.mode "standalone") $cs.existingSecret -}}
  {{- fail "clusterSecurity is for mode: cluster (a standalone node uses no Redis or NATS)" -}}
{{- end -}}
{{- if and $v.tls.enabled (not $v.tls.secretName) -}}
  {{- fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret)" -}}
{{- end -}}
{{- $c := $v.config -}}
{{- if ge (int (default 10 $c.drain_window_secs)) (int (default 25 $c.drain_deadline_secs)) -}}
  {{- fail "config.drain_window_secs must be shorter than config.drain_deadline_secs" -}}
{{- end -}}
{{- if le (include "confab.gracePeriod" . | int) (include "confab.minGracePeriod" . | int) -}}
  {{- fail (printf "terminationGracePeriodSeconds must exceed lifecycle.preStopSleepSeconds + the drain deadline (%s s)" (include "confab.minGracePeriod" .)) -}}
{{- end -}}
{{- end -}}

{{/* A value as text; whole numbers stay whole (YAML numbers arrive as floats: 1048576, not 1.048576e+06). */}}
{{- define "confab.scalar" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* The node's largest upload in bytes: config.max_upload_bytes, or the node's default. */}}
{{- define "confab.maxUploadBytes" -}}
{{- if kindIs "invalid" .Values.config.max_upload_bytes -}}
26214400
{{- else -}}
{{- int64 .Values.config.max_upload_bytes -}}
{{- end -}}
{{- end -}}

{{/* An nginx size (2m, 512k, 1g, 1048576) in bytes. */}}
{{- define "confab.sizeBytes" -}}
{{- $digits := regexFind "^[0-9]+" . -}}
{{- $unit := lower (trimPrefix $digits .) -}}
{{- $factor := get (dict "" 1 "k" 1024 "m" 1048576 "g" 1073741824) $unit -}}
{{- mul (atoi $digits) $factor -}}
{{- end -}}

{{/*
The ingress-nginx proxy-body-size: ingress.websocket.maxBodySize, or else
config.max_upload_bytes in MiB, rounded up, plus one (uploads are the largest bodies
clients send; Engine.IO's are at most 1 MB).
*/}}
{{- define "confab.ingressBodySize" -}}
{{- with .Values.ingress.websocket.maxBodySize -}}
{{- . -}}
{{- else -}}
{{- $mib := div (add (include "confab.maxUploadBytes" . | int64) 1048575) 1048576 -}}
{{- printf "%dm" (add $mib 1) -}}
{{- end -}}
{{- end -}}
