{{/*
Chart name, truncated to the 63 characters Kubernetes allows in a name.
*/}}
{{- define "daap.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or just <release> when it already contains the chart name.
*/}}
{{- define "daap.fullname" -}}
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

{{/*
Chart label value: name-version.
*/}}
{{- define "daap.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "daap.labels" -}}
helm.sh/chart: {{ include "daap.chart" . }}
app.kubernetes.io/name: {{ include "daap.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: daap
{{- end }}

{{/*
Selector labels of the server pods (immutable once a Deployment exists: keep them stable).
The component label keeps the migration Job's pods out of the Service, the PDB and the spread.
*/}}
{{- define "daap.selectorLabels" -}}
app.kubernetes.io/name: {{ include "daap.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/*
ServiceAccount of the server pods.
*/}}
{{- define "daap.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "daap.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is given, else repository:tag (tag defaults
to the chart's appVersion).
*/}}
{{- define "daap.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding DATABASE_URL (and the JWT secret): existingSecret or the chart's.
*/}}
{{- define "daap.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "daap.fullname" . }}
{{- end }}
{{- end }}

{{/*
Pod termination grace: explicit, or preStop sleep + shutdown grace + 10 s of margin.
Fails the render when an explicit value would cut the drain short.
*/}}
{{- define "daap.terminationGracePeriodSeconds" -}}
{{- $drain := add (int .Values.preStopSleepSeconds) (int .Values.config.shutdownGraceSeconds) }}
{{- $explicit := int .Values.terminationGracePeriodSeconds }}
{{- if eq $explicit 0 }}
{{- add $drain 10 }}
{{- else if le $explicit $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + config.shutdownGraceSeconds (%d), or the kubelet kills requests still draining" $explicit $drain) }}
{{- else }}
{{- $explicit }}
{{- end }}
{{- end }}

{{/*
Checks on combinations of values that the schema cannot express. Included by the Deployment.
*/}}
{{- define "daap.validate" -}}
{{- if and .Values.existingSecret (or .Values.secrets.databaseUrl .Values.secrets.jwtSecret) }}
{{- fail "set either existingSecret or secrets.databaseUrl/secrets.jwtSecret, not both: with existingSecret the chart creates no Secret and secrets.* would be ignored" }}
{{- end }}
{{- $keyVars := list "DAAP_JWT_SECRET" "DAAP_JWT_PUBLIC_KEY" "DAAP_JWKS_URL" }}
{{- $keyed := or .Values.secrets.jwtSecret .Values.existingSecret .Values.config.jwt.jwksUrl .Values.config.jwt.publicKey }}
{{- range $name, $value := .Values.config.extra }}
{{- if and (has $name $keyVars) $value }}{{- $keyed = true }}{{- end }}
{{- if and (eq $name "DAAP_ALLOW_ZERO_SETUP_AUTH") (eq (toString $value) "true") }}{{- $keyed = true }}{{- end }}
{{- end }}
{{- range .Values.extraEnv }}
{{- if has .name $keyVars }}{{- $keyed = true }}{{- end }}
{{- end }}
{{- if not $keyed }}
{{- fail "no token key source is set: set config.jwt.jwksUrl (your identity provider's key set), config.jwt.publicKey, secrets.jwtSecret, or existingSecret (holding the key secretKeys.jwtSecret). Without one every pod would make its own secret and print an admin token into its log (zero-setup mode, for local development only)" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}

{{/*
DATABASE_URL, by key, for the server and migration containers: a missing key stops the pod
(CreateContainerConfigError) instead of letting it fall back silently to a per-pod SQLite file.
*/}}
{{- define "daap.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "daap.secretName" . }}
      key: {{ .Values.secretKeys.databaseUrl }}
{{- end }}

{{/*
Server-only secret environment: the JWT HMAC secret and the storage-events token, each left
unset when its key is absent.
*/}}
{{- define "daap.jwtEnv" -}}
- name: DAAP_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "daap.secretName" . }}
      key: {{ .Values.secretKeys.jwtSecret }}
      optional: true
- name: DAAP_STORAGE_EVENTS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "daap.secretName" . }}
      key: {{ .Values.secretKeys.storageEventsToken }}
      optional: true
{{- end }}

{{/*
Volumes shared by the server and migration pods: a writable /tmp on a read-only root.
*/}}
{{- define "daap.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}
