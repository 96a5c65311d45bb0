{{/* The quarry.dev resources every component works on. */}}
{{- define "quarry.rbac.kinds" -}}
- quarrynamespaces
- buckets
- collections
- retrievers
- taxonomies
- models
{{- end -}}

{{/* Operator: read and patch the resources (finalizers via patch, never create or delete them), write status,
     record events, read the Secrets a resource references (S3 credentials): RBAC cannot say which, so the operator
     uses only those the Bucket's QuarryNamespace owns (quarry-secrets-<name>, or labelled quarry.dev/namespace=<name>:
     engine/src/lib/secret-refs.ts). */}}
{{- define "quarry.rbac.operatorRules" -}}
- apiGroups: [quarry.dev]
  resources:
    {{- include "quarry.rbac.kinds" . | nindent 4 }}
  verbs: [get, list, watch, patch]
- apiGroups: [quarry.dev]
  resources: [quarrynamespaces/status, buckets/status, collections/status, retrievers/status, taxonomies/status, models/status]
  verbs: [get, patch, update]
- apiGroups: [quarry.dev]
  resources: [quarrynamespaces/finalizers, buckets/finalizers, collections/finalizers, retrievers/finalizers, taxonomies/finalizers, models/finalizers]
  verbs: [update, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}

{{/* Engine: serve and manage the resources through the management API (server-side apply, field manager
     quarry-engine), read status; read the S3 credentials a Bucket references (uploads stream into its storage), the
     keys a QuarryNamespace references (spec.llm, spec.webSearch, spec.sqlConnections) and its secrets for stage
     parameters (the Secret quarry-secrets-<namespace name>). RBAC cannot say which Secrets: the engine uses only those
     the referencing QuarryNamespace owns (quarry-secrets-<name>, or labelled quarry.dev/namespace=<name>:
     engine/src/lib/secret-refs.ts). */}}
{{- define "quarry.rbac.engineRules" -}}
- apiGroups: [quarry.dev]
  resources:
    {{- include "quarry.rbac.kinds" . | nindent 4 }}
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}


{{/* Workers (worker.modelResources): read the Model resources they deliver and the Secrets a Model's s3 source names
     (the same ownership rule: engine/src/lib/secret-refs.ts). Read-only: they write nothing to the API. */}}
{{- define "quarry.rbac.workerRules" -}}
- apiGroups: [quarry.dev]
  resources: [models]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}
