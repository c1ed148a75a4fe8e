{{/* Names, labels and the selectors every webhook shares. */}}

{{- define "haproxy-guard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "haproxy-guard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "haproxy-guard.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "haproxy-guard.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "haproxy-guard.secretName" -}}
{{- default (printf "%s-tls" (include "haproxy-guard.fullname" .)) .Values.certificates.secretName -}}
{{- end -}}

{{- define "haproxy-guard.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object (the kustomize base's two, plus Helm's bookkeeping). */}}
{{- define "haproxy-guard.labels" -}}
app.kubernetes.io/name: {{ include "haproxy-guard.name" . }}
app.kubernetes.io/part-of: haproxy-guard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The webhook pods' selector. */}}
{{- define "haproxy-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "haproxy-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{/* The namespaceSelector of every webhook: never the excluded namespaces (the release's own included), never
a namespace labelled haproxy-guard.io/ignore, plus the extra terms from values. */}}
{{- define "haproxy-guard.namespaceSelector" -}}
{{- $extra := .Values.webhooks.namespaceSelector -}}
{{- with $extra.matchLabels }}
matchLabels:
  {{- toYaml . | nindent 2 }}
{{- end }}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ concat .Values.webhooks.excludedNamespaces (list .Release.Namespace) | uniq | toJson }}
  - key: haproxy-guard.io/ignore
    operator: DoesNotExist
{{- with $extra.matchExpressions }}
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* An objectSelector: the webhook's own terms (a dict with matchLabels / matchExpressions) and the extra
terms from values. Empty when both are. */}}
{{- define "haproxy-guard.objectSelector" -}}
{{- $own := .own -}}
{{- $extra := .root.Values.webhooks.objectSelector -}}
{{- $labels := merge (deepCopy (default dict $own.matchLabels)) (default dict $extra.matchLabels) -}}
{{- $expressions := concat (default list $own.matchExpressions) (default list $extra.matchExpressions) -}}
{{- if or $labels $expressions }}
objectSelector:
  {{- with $labels }}
  matchLabels:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $expressions }}
  matchExpressions:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* A webhook's clientConfig: the Service (default) or webhooks.url; with certificates.mode=helm, the
generated CA as caBundle. Argument: dict root, path. */}}
{{- define "haproxy-guard.clientConfig" -}}
clientConfig:
  {{- if .root.Values.webhooks.url }}
  url: {{ printf "%s%s" (trimSuffix "/" .root.Values.webhooks.url) .path | quote }}
  {{- else }}
  service:
    name: {{ include "haproxy-guard.fullname" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- end }}
  {{- with .caBundle }}
  caBundle: {{ . }}
  {{- end }}
{{- end -}}

{{/* The serving certificate's DNS names: the Service's three forms, then certificates.dnsNames. */}}
{{- define "haproxy-guard.dnsNames" -}}
{{- $name := include "haproxy-guard.fullname" . -}}
{{- $service := list $name (printf "%s.%s" $name .Release.Namespace) (printf "%s.%s.svc" $name .Release.Namespace) -}}
{{- concat $service .Values.certificates.dnsNames | uniq | toJson -}}
{{- end -}}

{{/* The pod spec of the certificate Job and CronJob (certificates.mode=self-signed). */}}
{{- define "haproxy-guard.certsPod" -}}
metadata:
  labels:
    app.kubernetes.io/component: certificates
spec:
  serviceAccountName: {{ include "haproxy-guard.fullname" . }}-certs
  restartPolicy: OnFailure
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: rotate
      image: {{ include "haproxy-guard.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: ["haproxy-guard"]
      args:
        - certs
        - rotate
        - --secret={{ include "haproxy-guard.secretName" . }}
        - --namespace={{ .Release.Namespace }}
        - --service={{ include "haproxy-guard.fullname" . }}
        - --webhook-configuration={{ include "haproxy-guard.fullname" . }}
        {{- range .Values.certificates.dnsNames }}
        - --dns={{ . }}
        {{- end }}
        {{- range .Values.certificates.ipAddresses }}
        - --ip={{ . }}
        {{- end }}
      resources:
        requests:
          cpu: 10m
          memory: 64Mi
        limits:
          # 128Mi was OOMKilled on a real node (tests/node): the first container to read a new image's Python
          # files is charged for their page and kernel caches (cgroup v1), on top of ~56 MiB resident.
          memory: 256Mi
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
{{- end -}}
