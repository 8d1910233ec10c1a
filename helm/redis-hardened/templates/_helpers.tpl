{{/*
Names, labels and small shared fragments. Anything that more than one
template renders lives here so that the StatefulSets, the cluster Job and the
tests agree on host names, ports and mount paths.
*/}}

{{- define "redis-hardened.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name; short enough for `<name>-sentinel-headless`. */}}
{{- define "redis-hardened.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "redis-hardened.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "redis-hardened.selectorLabels" -}}
app.kubernetes.io/name: {{ include "redis-hardened.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "redis-hardened.labels" -}}
helm.sh/chart: {{ include "redis-hardened.chart" . }}
{{ include "redis-hardened.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Names of the parts. */}}
{{- define "redis-hardened.headless" -}}{{ include "redis-hardened.fullname" . }}-headless{{- end -}}
{{- define "redis-hardened.sentinelName" -}}{{ include "redis-hardened.fullname" . }}-sentinel{{- end -}}
{{- define "redis-hardened.sentinelHeadless" -}}{{ include "redis-hardened.fullname" . }}-sentinel-headless{{- end -}}
{{- define "redis-hardened.authSecret" -}}{{ .Values.auth.existingSecret | default (printf "%s-auth" (include "redis-hardened.fullname" .)) }}{{- end -}}
{{- define "redis-hardened.tlsSecret" -}}{{ .Values.tls.existingSecret | default (printf "%s-tls" (include "redis-hardened.fullname" .)) }}{{- end -}}
{{- define "redis-hardened.serviceAccount" -}}{{ include "redis-hardened.fullname" . }}{{- end -}}

{{/* DNS suffix shared by the pods of one headless service: `.<svc>.<ns>.svc.<domain>`. */}}
{{- define "redis-hardened.nodeDomain" -}}
{{- printf ".%s.%s.svc.%s" (include "redis-hardened.headless" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}
{{- define "redis-hardened.sentinelDomain" -}}
{{- printf ".%s.%s.svc.%s" (include "redis-hardened.sentinelHeadless" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* Number of Redis data pods for the selected mode. */}}
{{- define "redis-hardened.dataReplicas" -}}
{{- if eq .Values.mode "sentinel" -}}{{ .Values.sentinel.dataNodes }}
{{- else if eq .Values.mode "cluster" -}}{{ .Values.cluster.nodes }}
{{- else -}}1{{- end -}}
{{- end -}}

{{/* Space-separated host:port of every data pod, e.g. for the cluster Job. */}}
{{- define "redis-hardened.dataAddrs" -}}
{{- $fullname := include "redis-hardened.fullname" . -}}
{{- $domain := include "redis-hardened.nodeDomain" . -}}
{{- $addrs := list -}}
{{- range $i := until (int (include "redis-hardened.dataReplicas" .)) -}}
{{- $addrs = append $addrs (printf "%s-%d%s:%d" $fullname $i $domain (int $.Values.redis.port)) -}}
{{- end -}}
{{- join " " $addrs -}}
{{- end -}}

{{- define "redis-hardened.sentinelAddrs" -}}
{{- $name := include "redis-hardened.sentinelName" . -}}
{{- $domain := include "redis-hardened.sentinelDomain" . -}}
{{- $addrs := list -}}
{{- range $i := until (int .Values.sentinel.replicas) -}}
{{- $addrs = append $addrs (printf "%s-%d%s:%d" $name $i $domain (int $.Values.sentinel.port)) -}}
{{- end -}}
{{- join " " $addrs -}}
{{- end -}}

{{- define "redis-hardened.image" -}}
{{- if .digest -}}{{ printf "%s@%s" .repository .digest }}{{- else -}}{{ printf "%s:%s" .repository .tag }}{{- end -}}
{{- end -}}

{{/* A `{{NAME}}` placeholder of redis-conf/, built without confusing the template parser. */}}
{{- define "redis-hardened.placeholder" -}}
{{- printf "%s%s%s" "{{" . "}}" -}}
{{- end -}}

{{/*
Placeholders the start-up scripts fill in each pod (files/scripts/lib.sh and
prepare-*.sh): its announced name and port, where the primary is, its
Sentinel id, and everything derived from the Secret (ACL hashes for
`*_PASSWORD`, quoted clear text for `*_SECRET`). Any other placeholder must
be filled by the chart.
*/}}
{{- define "redis-hardened.podPlaceholders" -}}
^\{\{(ANNOUNCE_HOST|ANNOUNCE_PORT|MASTER_HOST|MASTER_PORT|PRIMARY_HOST|PRIMARY_PORT|MYID|[A-Z]+_PASSWORD|[A-Z]+_SECRET)\}\}$
{{- end -}}

{{/*
One file of the policy (the chart's byte-identical copy of redis-conf/<name>
in files/) with the placeholders of `values` filled in, in directive lines
only: comments that name a placeholder stay as written. Placeholders left for
the pods (podPlaceholders) stay; any other fails the render, so a placeholder
added to redis-conf/ cannot slip through unfilled.
  include "redis-hardened.policyFile" (list $ "redis.conf" (dict "PORT" 6379))
*/}}
{{- define "redis-hardened.policyFile" -}}
{{- $ctx := index . 0 -}}
{{- $name := index . 1 -}}
{{- $values := index . 2 -}}
{{- $text := $ctx.Files.Get (printf "files/%s" $name) -}}
{{- if not $text -}}
{{- fail (printf "files/%s is missing: cp redis-conf/%s helm/redis-hardened/files/" $name $name) -}}
{{- end -}}
{{- $perPod := include "redis-hardened.podPlaceholders" $ctx -}}
{{- $out := list -}}
{{- range $line := splitList "\n" (trimSuffix "\n" $text) -}}
{{- if not (hasPrefix "#" (trim $line)) -}}
{{- range $key, $value := $values -}}
{{- $line = replace (include "redis-hardened.placeholder" $key) (toString $value) $line -}}
{{- end -}}
{{- range $left := regexFindAll "\\{\\{[A-Za-z_]+\\}\\}" $line -1 -}}
{{- if not (regexMatch $perPod $left) -}}
{{- fail (printf "files/%s has a placeholder the chart does not fill: %s (line: %s)" $name $left $line) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $out = append $out $line -}}
{{- end -}}
{{- join "\n" $out -}}
{{- end -}}

{{/* Mount paths used by templates, scripts and NOTES. */}}
{{- define "redis-hardened.paths" -}}
templates: /etc/redis/templates
scripts: /opt/redis-hardened
secrets: /run/secrets/redis
run: /run/redis
exporter: /run/redis-exporter
tls: /etc/redis/tls
data: /data
{{- end -}}

{{/* Pod-level security context: always non-root with RuntimeDefault seccomp. */}}
{{- define "redis-hardened.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context shared by every container. */}}
{{- define "redis-hardened.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
checkov skips that hold for every workload of the chart, as annotations
(`checkov.io/skipN: <id>=<reason>`). Rendered on the workload's metadata.
*/}}
{{- define "redis-hardened.checkovSkips" -}}
{{- $skips := list -}}
{{- if not (and .Values.image.digest (or (not .Values.metrics.enabled) .Values.metrics.image.digest)) -}}
{{- $skips = append $skips "CKV_K8S_43=images are pinned by tag by default so the chart works with local mirrors; set image.digest and metrics.image.digest to pin by digest" -}}
{{- end -}}
{{- range $i, $s := $skips }}
checkov.io/skip{{ add1 $i }}: {{ $s | quote }}
{{- end -}}
{{- end -}}

{{- define "redis-hardened.affinity" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
{{- if eq $ctx.Values.podAntiAffinity "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "redis-hardened.selectorLabels" $ctx | nindent 10 }}
          app.kubernetes.io/component: {{ $component }}
{{- else if eq $ctx.Values.podAntiAffinity "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "redis-hardened.selectorLabels" $ctx | nindent 12 }}
            app.kubernetes.io/component: {{ $component }}
{{- end }}
{{- end -}}

{{/* Environment shared by every script: where things are and how to reach peers. */}}
{{- define "redis-hardened.scriptEnv" -}}
{{- $paths := include "redis-hardened.paths" . | fromYaml -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: MODE
  value: {{ .Values.mode | quote }}
- name: TEMPLATE_DIR
  value: {{ $paths.templates | quote }}
- name: SECRET_DIR
  value: {{ $paths.secrets | quote }}
- name: RUN_DIR
  value: {{ $paths.run | quote }}
- name: EXPORTER_DIR
  value: {{ $paths.exporter | quote }}
- name: TLS_DIR
  value: {{ if .Values.tls.enabled }}{{ $paths.tls | quote }}{{ else }}""{{ end }}
- name: REDIS_PORT
  value: {{ .Values.redis.port | quote }}
- name: QUERY_TIMEOUT
  value: {{ .Values.sentinel.queryTimeoutSeconds | quote }}
{{- end -}}

{{/* Environment of the Redis pod's scripts (init and main container). */}}
{{- define "redis-hardened.nodeEnv" -}}
{{- $fullname := include "redis-hardened.fullname" . -}}
{{- $domain := include "redis-hardened.nodeDomain" . -}}
{{- $port := int .Values.redis.port -}}
{{ include "redis-hardened.scriptEnv" . }}
- name: ANNOUNCE_HOST
  value: "$(POD_NAME){{ $domain }}"
{{- if .Values.metrics.enabled }}
- name: EXPORTER_ADDR
  value: {{ if .Values.tls.enabled }}"rediss://$(POD_NAME){{ $domain }}:{{ $port }}"{{ else }}"redis://localhost:{{ $port }}"{{ end }}
{{- end }}
{{- if eq .Values.mode "sentinel" }}
- name: MASTER_NAME
  value: {{ .Values.sentinel.masterName | quote }}
- name: SENTINEL_ADDRS
  value: {{ include "redis-hardened.sentinelAddrs" . | quote }}
- name: DATA_ADDRS
  value: {{ include "redis-hardened.dataAddrs" . | quote }}
- name: FALLBACK_PRIMARY
  value: "{{ $fullname }}-0{{ $domain }}:{{ $port }}"
{{- end }}
{{- end -}}
