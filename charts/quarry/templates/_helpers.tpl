{{/* Chart name. */}}
{{- define "quarry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name prefix for every object: <release>-quarry, or the release name when it already says quarry. */}}
{{- define "quarry.fullname" -}}
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

{{/* Name of one component's objects: (dict "ctx" $ "component" "operator"). */}}
{{- define "quarry.componentName" -}}
{{- printf "%s-%s" (include "quarry.fullname" .ctx | trunc 52 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "quarry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "quarry.labels" -}}
helm.sh/chart: {{ include "quarry.chart" . }}
app.kubernetes.io/name: {{ include "quarry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: quarry
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "engine"). */}}
{{- define "quarry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "quarry.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "quarry.componentLabels" -}}
{{ include "quarry.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* ServiceAccount name of one component. */}}
{{- define "quarry.serviceAccountName" -}}
{{- $c := index .ctx.Values .component -}}
{{- if $c.serviceAccount.create -}}
{{- default (include "quarry.componentName" .) $c.serviceAccount.name -}}
{{- else -}}
{{- default "default" $c.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "quarry.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Lease used for operator leader election. */}}
{{- define "quarry.leaseName" -}}
{{- default (include "quarry.componentName" (dict "ctx" . "component" "operator")) .Values.operator.leaderElection.leaseName -}}
{{- end -}}

{{/* Comma-separated namespaces the operator watches; empty means all. */}}
{{- define "quarry.watchNamespaces" -}}
{{- if eq .Values.rbac.scope "namespaces" -}}
{{- join "," .Values.rbac.namespaces -}}
{{- end -}}
{{- end -}}

{{/* Namespaces that get Roles when rbac.scope is "namespaces". Fails early when the list is empty. */}}
{{- define "quarry.managedNamespaces" -}}
{{- if and (eq .Values.rbac.scope "namespaces") (not .Values.rbac.namespaces) -}}
{{- fail "rbac.scope=namespaces needs at least one entry in rbac.namespaces" -}}
{{- end -}}
{{- toJson .Values.rbac.namespaces -}}
{{- end -}}

{{/* The Secret holding the bootstrap API key, or nothing. */}}
{{- define "quarry.bootstrapSecretName" -}}
{{- if .Values.apiKeys.bootstrap.existingSecret -}}
{{- .Values.apiKeys.bootstrap.existingSecret -}}
{{- else if .Values.apiKeys.bootstrap.create -}}
{{- printf "%s-bootstrap-api-key" (include "quarry.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by every component: where the vector store (Qdrant, the served embedded store or the
   in-process one), NATS and S3 are, credentials by Secret reference, and the
   storage policy of Buckets (values `storage`; the worker ignores it). */}}
{{- define "quarry.connectionEnv" -}}
{{- $c := .Values.connections -}}
- name: POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: POD_NAMESPACE
  valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
- name: QUARRY_MODE
  value: cluster
- name: QUARRY_MODELS_DIR
  value: {{ .Values.models.mountPath | quote }}
{{- if include "quarry.vectorStoreServed" . }}
- name: QUARRY_VECTOR_STORE
  value: remote
- name: QUARRY_VECTOR_STORE_URL
  value: {{ include "quarry.vectorStoreUrl" . | quote }}
- name: QUARRY_VECTOR_STORE_TOKEN
  valueFrom:
    secretKeyRef: { name: {{ include "quarry.vectorStoreTokenSecret" . | quote }}, key: {{ .Values.vectorStore.server.tokenSecretRef.key | quote }} }
{{- else if eq .Values.vectorStore.kind "embedded" }}
- name: QUARRY_VECTOR_STORE
  value: embedded
- name: QUARRY_DATA_DIR
  value: {{ .Values.allInOne.persistence.mountPath | quote }}
{{- else }}
- name: QDRANT_URL
  value: {{ include "quarry.qdrantUrl" . | quote }}
{{- $qkey := include "quarry.qdrantApiKeySecret" . }}
{{- if $qkey }}
- name: QDRANT_API_KEY
  valueFrom:
    secretKeyRef: { name: {{ $qkey | quote }}, key: {{ $c.qdrant.apiKeySecretRef.key | quote }} }
{{- end }}
{{- end }}
- name: NATS_URL
  value: {{ $c.nats.url | quote }}
- name: NATS_STREAM_PREFIX
  value: {{ $c.nats.streamPrefix | default "QUARRY" | quote }}
{{- if $c.nats.credentialsSecretRef.name }}
- name: NATS_USER
  valueFrom:
    secretKeyRef: { name: {{ $c.nats.credentialsSecretRef.name | quote }}, key: {{ $c.nats.credentialsSecretRef.usernameKey | quote }} }
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ $c.nats.credentialsSecretRef.name | quote }}, key: {{ $c.nats.credentialsSecretRef.passwordKey | quote }} }
{{- end }}
{{- if $c.s3.endpoint }}
- name: S3_ENDPOINT
  value: {{ $c.s3.endpoint | quote }}
{{- end }}
- name: S3_REGION
  value: {{ $c.s3.region | quote }}
- name: S3_FORCE_PATH_STYLE
  value: {{ $c.s3.forcePathStyle | quote }}
{{- if $c.s3.credentialsSecretRef.name }}
- name: S3_ACCESS_KEY
  valueFrom:
    secretKeyRef: { name: {{ $c.s3.credentialsSecretRef.name | quote }}, key: {{ $c.s3.credentialsSecretRef.accessKeyIdKey | quote }} }
- name: S3_SECRET_KEY
  valueFrom:
    secretKeyRef: { name: {{ $c.s3.credentialsSecretRef.name | quote }}, key: {{ $c.s3.credentialsSecretRef.secretAccessKeyKey | quote }} }
{{- end }}
{{- with .Values.storage.endpoints }}
- name: QUARRY_STORAGE_ENDPOINTS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.storage.allowCidrs }}
- name: QUARRY_STORAGE_ALLOW_CIDRS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.storage.shared }}
- name: QUARRY_SHARED_STORAGE
  value: {{ join "," . | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level fields shared by every component: (dict "ctx" $ "component" "engine"). */}}
{{- define "quarry.podCommon" -}}
{{- $v := index .ctx.Values .component -}}
serviceAccountName: {{ include "quarry.serviceAccountName" . }}
automountServiceAccountToken: {{ include "quarry.needsKubeToken" . }}
enableServiceLinks: false
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Volumes every pod has: a writable /tmp (the root filesystem is read-only; uploads, media decoding and
     model downloads stage files there)
     and the models volume when one is configured. */}}
{{- define "quarry.volumes" -}}
- name: tmp
  emptyDir: { sizeLimit: 1Gi }
{{- if eq .Values.models.volume "persistentVolumeClaim" }}
- name: models
  persistentVolumeClaim: { claimName: {{ required "models.claimName is required when models.volume=persistentVolumeClaim" .Values.models.claimName | quote }}, readOnly: true }
{{- else if eq .Values.models.volume "emptyDir" }}
- name: models
  emptyDir: {}
{{- end }}
{{- end -}}

{{- define "quarry.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if ne .Values.models.volume "none" }}
- name: models
  mountPath: {{ .Values.models.mountPath | quote }}
  readOnly: {{ eq .Values.models.volume "persistentVolumeClaim" }}
{{- end }}
{{- end -}}

{{/* An HTTP probe from a values block: (dict "probe" $v.livenessProbe "path" "/healthz" "port" "metrics"). */}}
{{- define "quarry.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}

{{/* The chart runs Qdrant itself: the vector store is Qdrant and no connections.qdrant.url is given. */}}
{{- define "quarry.qdrantManaged" -}}
{{- if and (eq .Values.vectorStore.kind "qdrant") (not .Values.connections.qdrant.url) -}}true{{- end -}}
{{- end -}}

{{/* Where Quarry reaches Qdrant: connections.qdrant.url, else the chart's own Qdrant Service. */}}
{{- define "quarry.qdrantUrl" -}}
{{- if .Values.connections.qdrant.url -}}
{{- .Values.connections.qdrant.url -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%d" (include "quarry.componentName" (dict "ctx" . "component" "qdrant")) .Release.Namespace (int .Values.qdrant.service.port) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the Qdrant API key: connections.qdrant.apiKeySecretRef.name, else the one the chart generates
     for its own Qdrant; empty for an external Qdrant without a key. */}}
{{- define "quarry.qdrantApiKeySecret" -}}
{{- if .Values.connections.qdrant.apiKeySecretRef.name -}}
{{- .Values.connections.qdrant.apiKeySecretRef.name -}}
{{- else if include "quarry.qdrantManaged" . -}}
{{- printf "%s-qdrant-api-key" (include "quarry.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The embedded store served by its own component (vector-store.yaml) to the separate operator, engine and worker pods. */}}
{{- define "quarry.vectorStoreServed" -}}
{{- if and (eq .Values.vectorStore.kind "embedded") (not .Values.allInOne.enabled) -}}true{{- end -}}
{{- end -}}

{{/* Where the components reach the served embedded store: its Service. */}}
{{- define "quarry.vectorStoreUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "quarry.componentName" (dict "ctx" . "component" "vector-store")) .Release.Namespace (int .Values.vectorStore.server.port) -}}
{{- end -}}

{{/* The Secret holding the served store's token: vectorStore.server.tokenSecretRef.name, else the generated one. */}}
{{- define "quarry.vectorStoreTokenSecret" -}}
{{- default (printf "%s-vector-store-token" (include "quarry.fullname" .)) .Values.vectorStore.server.tokenSecretRef.name -}}
{{- end -}}

{{/* Refuses value combinations that install but cannot work. Included by every Deployment template. */}}
{{- define "quarry.validate" -}}
{{- if not .Values.allInOne.enabled -}}
{{- range $component := list "operator" "engine" "worker" -}}
{{- range (index $.Values $component).extraEnv -}}
{{- if and (eq .name "QUARRY_VECTOR_STORE") (eq (toString .value) "embedded") -}}
{{- fail (printf "%s.extraEnv sets QUARRY_VECTOR_STORE=embedded: an in-process embedded store cannot be shared by the separate operator, engine and worker pods (each would read its own stale copy); set vectorStore.kind=embedded instead, and the chart serves one store to all three" $component) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether a component talks to the Kubernetes API: the operator and the engine always, the workers only to serve
     Model resources (worker.modelResources). (dict "ctx" $ "component" "worker") */}}
{{- define "quarry.needsKubeToken" -}}
{{- or (ne .component "worker") .ctx.Values.worker.modelResources -}}
{{- end -}}
