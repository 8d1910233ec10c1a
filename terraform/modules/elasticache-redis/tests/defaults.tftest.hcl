# Cluster mode off with every default: what a plain call of the module builds.
# Runs offline: the AWS provider is mocked, so values the API would compute
# (ARNs, endpoints) are placeholders and only the configured values are checked.

mock_provider "aws" {}

variables {
  name       = "tt-redis"
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  allowed_security_group_ids = {
    app = "sg-0cccccccccccccccc"
  }
  allowed_cidr_blocks = {
    office-vpn = "10.20.0.0/16"
    v6-peer    = "fd00:1234::/48"
  }
  # Test fixtures only, shaped like real passwords; never used outside this test.
  admin_password    = "test-only-admin-0000000000"
  app_password      = "test-only-app-00000000000"
  exporter_password = "test-only-exporter-000000"
}

run "secure_by_default" {
  command = apply

  assert {
    condition     = aws_elasticache_replication_group.this[0].transit_encryption_enabled == true && aws_elasticache_replication_group.this[0].transit_encryption_mode == "required"
    error_message = "TLS must be required in transit."
  }

  assert {
    condition     = aws_elasticache_replication_group.this[0].at_rest_encryption_enabled == "true" && aws_elasticache_replication_group.this[0].kms_key_id == aws_kms_key.this[0].arn
    error_message = "Data at rest must be encrypted with the module's KMS key."
  }

  assert {
    condition     = aws_kms_key.this[0].enable_key_rotation == true
    error_message = "The KMS key must rotate."
  }

  assert {
    condition     = aws_elasticache_replication_group.this[0].multi_az_enabled == true && aws_elasticache_replication_group.this[0].automatic_failover_enabled == true && aws_elasticache_replication_group.this[0].num_cache_clusters == 2
    error_message = "Default must be one primary and one replica with multi-AZ automatic failover."
  }

  assert {
    condition     = aws_elasticache_replication_group.this[0].cluster_mode == "disabled"
    error_message = "Cluster mode must be off by default."
  }

  assert {
    condition     = aws_elasticache_replication_group.this[0].snapshot_retention_limit == 7 && aws_elasticache_replication_group.this[0].snapshot_window == "03:00-04:00" && aws_elasticache_replication_group.this[0].final_snapshot_identifier == "tt-redis-final"
    error_message = "Snapshots must be kept 7 days and a final snapshot taken."
  }

  assert {
    condition     = aws_elasticache_replication_group.this[0].maintenance_window == "sun:05:00-sun:06:00" && aws_elasticache_replication_group.this[0].auto_minor_version_upgrade == "true"
    error_message = "Maintenance window and minor upgrades must be set."
  }

  assert {
    condition     = toset(aws_elasticache_replication_group.this[0].user_group_ids) == toset([aws_elasticache_user_group.this[0].user_group_id])
    error_message = "The RBAC user group must be attached."
  }

  assert {
    condition     = toset([for c in aws_elasticache_replication_group.this[0].log_delivery_configuration : "${c.log_type}:${c.destination_type}:${c.log_format}:${c.destination}"]) == toset(["slow-log:cloudwatch-logs:json:/aws/elasticache/tt-redis/slow-log", "engine-log:cloudwatch-logs:json:/aws/elasticache/tt-redis/engine-log"])
    error_message = "Slow log and engine log must be delivered to the module's log groups as JSON."
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.this : g.kms_key_id == aws_kms_key.this[0].arn && g.retention_in_days == 365])
    error_message = "Log groups must be KMS-encrypted and kept a year."
  }

  assert {
    condition     = aws_elasticache_parameter_group.this[0].family == "redis7" && aws_elasticache_replication_group.this[0].parameter_group_name == aws_elasticache_parameter_group.this[0].name
    error_message = "The policy parameter group (redis7) must be attached."
  }

  assert {
    condition = {
      for p in aws_elasticache_parameter_group.this[0].parameter : p.name => p.value
      if contains(["maxmemory-policy", "timeout", "tcp-keepalive", "slowlog-log-slower-than", "slowlog-max-len", "cluster-enabled"], p.name)
      } == {
      "maxmemory-policy"        = "noeviction"
      "timeout"                 = "300"
      "tcp-keepalive"           = "60"
      "slowlog-log-slower-than" = "10000"
      "slowlog-max-len"         = "256"
      "cluster-enabled"         = "no"
    }
    error_message = "Parameter group values must follow redis-conf/redis.conf."
  }

  assert {
    condition     = aws_elasticache_user.disabled_default[0].user_name == "default" && startswith(aws_elasticache_user.disabled_default[0].access_string, "off ")
    error_message = "The default user must exist and be off."
  }

  assert {
    condition     = toset(keys(aws_elasticache_user.this)) == toset(["admin", "app", "exporter"]) && alltrue([for u in aws_elasticache_user.this : u.authentication_mode[0].type == "password"])
    error_message = "admin, app and exporter must authenticate with passwords."
  }

  assert {
    condition     = length(aws_elasticache_user_group.this[0].user_ids) == 4 && contains(aws_elasticache_user_group.this[0].user_ids, "tt-redis-default")
    error_message = "The user group must hold the disabled default user and the three roles."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.this) == 3 && alltrue([for r in aws_vpc_security_group_ingress_rule.this : r.from_port == 6379 && r.to_port == 6379 && r.ip_protocol == "tcp"])
    error_message = "Ingress must be the Redis port only, one rule per allowed source."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.this["sg-app"].referenced_security_group_id == "sg-0cccccccccccccccc" && aws_vpc_security_group_ingress_rule.this["cidr-office-vpn"].cidr_ipv4 == "10.20.0.0/16" && aws_vpc_security_group_ingress_rule.this["cidr-v6-peer"].cidr_ipv6 == "fd00:1234::/48"
    error_message = "Ingress sources must map to security group, IPv4 and IPv6 rules."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 10 && toset([for a in aws_cloudwatch_metric_alarm.this : a.metric_name]) == toset(["EngineCPUUtilization", "DatabaseMemoryUsagePercentage", "Evictions", "ReplicationLag", "CurrConnections"])
    error_message = "Each of the 2 nodes needs CPU, memory, evictions, replication lag and connection alarms."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["tt-redis-002-replication-lag"].dimensions.CacheClusterId == "tt-redis-002"
    error_message = "Alarms must watch the member cluster ids ElastiCache assigns."
  }

  assert {
    condition     = startswith(output.verify_command, "cargo run -p verify -- --target rediss://") && endswith(output.verify_command, ":6379 --user admin --password-file admin.password")
    error_message = "verify_command must be ready to run against the TLS endpoint."
  }
}

run "existing_kms_key_and_no_extras" {
  command = apply

  variables {
    create_kms_key               = false
    kms_key_arn                  = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000"
    create_cloudwatch_alarms     = false
    create_cloudwatch_log_groups = false
  }

  assert {
    condition     = length(aws_kms_key.this) == 0 && aws_elasticache_replication_group.this[0].kms_key_id == "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000"
    error_message = "A given KMS key must be used instead of creating one."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0 && length(aws_cloudwatch_log_group.this) == 0 && length(aws_elasticache_replication_group.this[0].log_delivery_configuration) == 0
    error_message = "Alarms and log groups must follow their create_* flags."
  }
}

run "create_false_creates_nothing" {
  command = apply

  variables {
    create = false
  }

  assert {
    condition     = length(aws_elasticache_replication_group.this) == 0 && length(aws_kms_key.this) == 0 && length(aws_elasticache_user.this) == 0 && length(aws_security_group.this) == 0 && length(aws_cloudwatch_metric_alarm.this) == 0
    error_message = "create = false must create nothing."
  }

  assert {
    condition     = output.endpoint == null && output.verify_command == null
    error_message = "Outputs must be null, not errors, when nothing is created."
  }
}
