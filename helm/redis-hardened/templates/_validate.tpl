{{/*
Cross-value rules the schema cannot express. Every broken rule adds a
message; the render then fails once, listing all of them.
*/}}

{{/* Bytes in a Redis memory value such as 200mb, 1gb or 1048576. */}}
{{- define "redis-hardened.redisBytes" -}}
{{- $v := lower (toString .) -}}
{{- $n := regexFind "^[0-9]+" $v | int64 -}}
{{- $unit := trimPrefix (regexFind "^[0-9]+" $v) $v -}}
{{- $mult := dict "" 1 "b" 1 "k" 1000 "kb" 1024 "m" 1000000 "mb" 1048576 "g" 1000000000 "gb" 1073741824 -}}
{{- mul $n (get $mult $unit | default 1) -}}
{{- end -}}

{{/* Bytes in a Kubernetes quantity such as 256Mi or 1G. */}}
{{- define "redis-hardened.k8sBytes" -}}
{{- $v := toString . -}}
{{- $n := regexFind "^[0-9]+" $v | int64 -}}
{{- $unit := trimPrefix (regexFind "^[0-9]+(\\.[0-9]+)?" $v) $v -}}
{{- $mult := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- mul $n (get $mult $unit | default 1) -}}
{{- end -}}

{{- define "redis-hardened.validate" -}}
{{- $errors := list -}}
{{- $v := .Values -}}

{{- if eq $v.mode "sentinel" -}}
{{- if gt (int $v.sentinel.quorum) (int $v.sentinel.replicas) -}}
{{- $errors = append $errors (printf "sentinel.quorum (%d) must not exceed sentinel.replicas (%d): no failover could ever be agreed" (int $v.sentinel.quorum) (int $v.sentinel.replicas)) -}}
{{- end -}}
{{- if eq (mod (int $v.sentinel.replicas) 2) 0 -}}
{{- $errors = append $errors (printf "sentinel.replicas (%d) must be odd so that a majority survives a split" (int $v.sentinel.replicas)) -}}
{{- end -}}
{{- if ge (int $v.sentinel.minReplicasToWrite) (int $v.sentinel.dataNodes) -}}
{{- $errors = append $errors (printf "sentinel.minReplicasToWrite (%d) must be below sentinel.dataNodes (%d): the primary would never accept a write" (int $v.sentinel.minReplicasToWrite) (int $v.sentinel.dataNodes)) -}}
{{- end -}}
{{- if eq (int $v.redis.port) (int $v.sentinel.port) -}}
{{- $errors = append $errors "sentinel.port must differ from redis.port" -}}
{{- end -}}
{{- end -}}

{{- if eq $v.mode "cluster" -}}
{{- $perShard := add1 (int $v.cluster.replicasPerPrimary) -}}
{{- if lt (int $v.cluster.nodes) (mul 3 $perShard) -}}
{{- $errors = append $errors (printf "cluster.nodes (%d) must be at least 3 x (1 + cluster.replicasPerPrimary) = %d: Redis Cluster needs three primaries" (int $v.cluster.nodes) (mul 3 $perShard)) -}}
{{- else if ne (mod (int $v.cluster.nodes) $perShard) 0 -}}
{{- $errors = append $errors (printf "cluster.nodes (%d) must be a multiple of 1 + cluster.replicasPerPrimary (%d) so every primary gets its replicas" (int $v.cluster.nodes) $perShard) -}}
{{- end -}}
{{- end -}}

{{- if $v.tls.enabled -}}
{{- if and $v.tls.existingSecret $v.tls.certManager.enabled -}}
{{- $errors = append $errors "tls: set either tls.existingSecret or tls.certManager.enabled, not both" -}}
{{- else if not (or $v.tls.existingSecret $v.tls.certManager.enabled) -}}
{{- $errors = append $errors "tls.enabled needs a certificate: set tls.existingSecret or tls.certManager.enabled" -}}
{{- end -}}
{{- if and $v.tls.certManager.enabled (not $v.tls.certManager.issuerRef.name) -}}
{{- $errors = append $errors "tls.certManager.issuerRef.name is required when tls.certManager.enabled" -}}
{{- end -}}
{{- end -}}

{{- $maxmemory := include "redis-hardened.redisBytes" $v.redis.maxmemory | int64 -}}
{{- $limit := include "redis-hardened.k8sBytes" $v.redis.resources.limits.memory | int64 -}}
{{- if gt (mul $maxmemory 10) (mul $limit 8) -}}
{{- $errors = append $errors (printf "redis.maxmemory (%s) must be at most 80%% of redis.resources.limits.memory (%s): forks for BGSAVE and AOF rewrite need headroom" $v.redis.maxmemory (toString $v.redis.resources.limits.memory)) -}}
{{- end -}}

{{- if and (or $v.metrics.serviceMonitor.enabled $v.metrics.prometheusRule.enabled) (not $v.metrics.enabled) -}}
{{- $errors = append $errors "metrics.serviceMonitor and metrics.prometheusRule need metrics.enabled (the exporter sidecar)" -}}
{{- end -}}

{{- if and $v.metrics.enabled (eq (int $v.metrics.port) (int $v.redis.port)) -}}
{{- $errors = append $errors "metrics.port must differ from redis.port" -}}
{{- end -}}

{{- if $errors -}}
{{- fail (printf "\n\nredis-hardened: invalid values:\n  - %s\n" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}
