locals {
  create = var.create

  # Engine "7.1" -> parameter family "redis7".
  family = "redis${split(".", var.engine_version)[0]}"

  # The hardening policy of redis-conf/redis.conf, restricted to what an
  # ElastiCache parameter group may set. redis.conf is the source of truth:
  # tests/iac/test_terraform.py parses both files and fails on any drift, and
  # lists where every other redis.conf directive went (node type, RBAC,
  # snapshots, log delivery) or why ElastiCache does not expose it.
  # notify-keyspace-events "" is left out on purpose: it is already the
  # ElastiCache default, and a user-set empty value is read back without a
  # value, which would show as a change on every plan.
  hardening_parameters = {
    "maxmemory-policy"         = "noeviction"
    "timeout"                  = "300"
    "tcp-keepalive"            = "60"
    "acllog-max-len"           = "256"
    "lazyfree-lazy-eviction"   = "yes"
    "lazyfree-lazy-expire"     = "yes"
    "lazyfree-lazy-server-del" = "yes"
    "lazyfree-lazy-user-del"   = "yes"
    "slowlog-log-slower-than"  = "10000"
    "slowlog-max-len"          = "256"
  }

  parameters = merge(local.hardening_parameters, {
    "cluster-enabled" = var.cluster_mode_enabled ? "yes" : "no"
  })

  # The roles of redis-conf/users.acl. ElastiCache takes passwords through its
  # API (never in the access string), refuses reset* rules and restricted
  # commands such as CONFIG, and runs replication and failover itself, so the
  # `replication` and `sentinel` users have no counterpart here. The test derives
  # these strings from users.acl and fails when they differ.
  rbac_access_strings = {
    admin    = "on ~* &* +@all"
    app      = "on ~* &* +@all -@dangerous -@admin +role"
    exporter = "on -@all +ping +auth +client|setname +info +slowlog|get +slowlog|len +latency|latest +latency|histogram +cluster|info +command|info"
  }
  # ElastiCache requires a user named "default" in every user group. This one
  # is off and has no permissions: an unauthenticated client can do nothing.
  default_user_access_string = "off -@all"

  user_passwords = {
    admin    = var.admin_password
    app      = var.app_password
    exporter = var.exporter_password
  }

  create_kms_key = local.create && var.create_kms_key
  kms_key_arn    = local.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn

  create_users   = local.create && var.create_users
  user_group_ids = local.create_users ? [aws_elasticache_user_group.this[0].user_group_id] : var.user_group_ids

  subnet_group_name    = local.create && var.create_subnet_group ? aws_elasticache_subnet_group.this[0].name : var.subnet_group_name
  parameter_group_name = local.create && var.create_parameter_group ? aws_elasticache_parameter_group.this[0].name : var.parameter_group_name

  create_security_group = local.create && var.create_security_group
  security_group_ids    = concat(aws_security_group.this[*].id, var.security_group_ids)
  ingress_rules = merge(
    { for label, id in var.allowed_security_group_ids : "sg-${label}" => { label = label, security_group_id = id, cidr_ipv4 = null, cidr_ipv6 = null } },
    { for label, cidr in var.allowed_cidr_blocks : "cidr-${label}" => {
      label             = label
      security_group_id = null
      cidr_ipv4         = strcontains(cidr, ":") ? null : cidr
      cidr_ipv6         = strcontains(cidr, ":") ? cidr : null
    } },
  )

  log_group_prefix = "/aws/elasticache/${var.name}"
  log_types        = local.create && var.create_cloudwatch_log_groups ? toset(["slow-log", "engine-log"]) : toset([])

  # Member cluster ids follow ElastiCache's naming: <group>-001, -002, … with
  # cluster mode off and <group>-0001-001 (shard-node) with it on. Computing
  # them here keeps the alarm keys known at plan time.
  node_ids = var.cluster_mode_enabled ? flatten([
    for shard in range(1, var.num_node_groups + 1) : [
      for node in range(1, var.replicas_per_node_group + 2) : format("%s-%04d-%03d", var.name, shard, node)
    ]
  ]) : [for node in range(1, var.num_cache_clusters + 1) : format("%s-%03d", var.name, node)]

  alarm_definitions = {
    cpu = {
      metric_name         = "EngineCPUUtilization"
      statistic           = "Average"
      threshold           = var.alarm_thresholds.cpu_percent
      period              = 60
      evaluation_periods  = 5
      treat_missing_data  = "missing"
      description         = "Redis main thread CPU above ${var.alarm_thresholds.cpu_percent}% for 5 minutes: look for slow commands (slow-log group), big keys or a hot shard; scale up the node type or add shards."
      comparison_operator = "GreaterThanThreshold"
    }
    memory = {
      metric_name         = "DatabaseMemoryUsagePercentage"
      statistic           = "Average"
      threshold           = var.alarm_thresholds.memory_percent
      period              = 60
      evaluation_periods  = 5
      treat_missing_data  = "missing"
      description         = "Memory above ${var.alarm_thresholds.memory_percent}% of maxmemory. With maxmemory-policy noeviction writes fail with OOM when it is full: check TTLs and growth, then scale up or add shards."
      comparison_operator = "GreaterThanThreshold"
    }
    evictions = {
      metric_name         = "Evictions"
      statistic           = "Sum"
      threshold           = var.alarm_thresholds.evictions
      period              = 300
      evaluation_periods  = 1
      treat_missing_data  = "notBreaching"
      description         = "Keys were evicted. The policy is noeviction, so state (rate limits, locks, sessions) must never be evicted: check the parameter group's maxmemory-policy against redis-conf/redis.conf."
      comparison_operator = "GreaterThanThreshold"
    }
    replication-lag = {
      metric_name         = "ReplicationLag"
      statistic           = "Maximum"
      threshold           = var.alarm_thresholds.replication_lag_seconds
      period              = 60
      evaluation_periods  = 3
      treat_missing_data  = "notBreaching"
      description         = "A replica is more than ${var.alarm_thresholds.replication_lag_seconds}s behind its primary: a failover now would lose those writes. Check primary write load and network."
      comparison_operator = "GreaterThanThreshold"
    }
    connections = {
      metric_name         = "CurrConnections"
      statistic           = "Maximum"
      threshold           = var.alarm_thresholds.connections
      period              = 60
      evaluation_periods  = 5
      treat_missing_data  = "missing"
      description         = "More than ${var.alarm_thresholds.connections} client connections: look for a connection leak or a missing pool in the application."
      comparison_operator = "GreaterThanThreshold"
    }
  }

  alarms = local.create && var.create_cloudwatch_alarms ? merge([
    for node in local.node_ids : {
      for key, alarm in local.alarm_definitions : "${node}-${key}" => merge(alarm, { node = node, key = key })
    }
  ]...) : {}

  endpoint = try(
    var.cluster_mode_enabled ? aws_elasticache_replication_group.this[0].configuration_endpoint_address : aws_elasticache_replication_group.this[0].primary_endpoint_address,
    null,
  )
}

data "aws_partition" "current" {
  count = local.create_kms_key ? 1 : 0
}

data "aws_caller_identity" "current" {
  count = local.create_kms_key ? 1 : 0
}

data "aws_region" "current" {
  count = local.create_kms_key ? 1 : 0
}

################################################################################
# KMS key: data at rest, snapshots, log groups
################################################################################

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "ElastiCache ${var.name}: data at rest, snapshots and logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days

  # The account keeps control through IAM; CloudWatch Logs may use the key
  # only for this cache's log groups.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountControlThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current[0].partition}:iam::${data.aws_caller_identity.current[0].account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsForThisCacheOnly"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current[0].id}.${data.aws_partition.current[0].dns_suffix}" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current[0].partition}:logs:${data.aws_region.current[0].id}:${data.aws_caller_identity.current[0].account_id}:log-group:${local.log_group_prefix}/*"
          }
        }
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/elasticache/${var.name}"
  target_key_id = aws_kms_key.this[0].key_id
}

################################################################################
# Network: subnet group and a security group with explicit ingress only
################################################################################

resource "aws_elasticache_subnet_group" "this" {
  count = local.create && var.create_subnet_group ? 1 : 0

  name        = var.name
  description = "ElastiCache ${var.name} private subnets"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

resource "aws_security_group" "this" {
  count = local.create_security_group ? 1 : 0

  name_prefix = "${var.name}-redis-"
  description = "ElastiCache ${var.name}: Redis TLS port from listed clients only, no egress"
  vpc_id      = var.vpc_id

  # No egress block: Terraform removes the default allow-all egress rule, and
  # ElastiCache nodes need none.

  tags = merge(var.tags, { Name = "${var.name}-redis" })

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = var.vpc_id != null
      error_message = "Set vpc_id when create_security_group is true (or set create_security_group = false and pass security_group_ids)."
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = local.create_security_group ? local.ingress_rules : {}

  security_group_id            = aws_security_group.this[0].id
  description                  = "Redis TLS from ${each.value.label}"
  ip_protocol                  = "tcp"
  from_port                    = var.port
  to_port                      = var.port
  referenced_security_group_id = each.value.security_group_id
  cidr_ipv4                    = each.value.cidr_ipv4
  cidr_ipv6                    = each.value.cidr_ipv6

  tags = var.tags
}

################################################################################
# Parameter group: the redis-conf/redis.conf policy
################################################################################

resource "aws_elasticache_parameter_group" "this" {
  count = local.create && var.create_parameter_group ? 1 : 0

  name        = "${var.name}-${local.family}${var.cluster_mode_enabled ? "-cluster" : ""}"
  family      = local.family
  description = "Hardening policy of redis-conf/redis.conf for ${var.name}"

  dynamic "parameter" {
    for_each = local.parameters

    content {
      name  = parameter.key
      value = parameter.value
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# RBAC: the roles of redis-conf/users.acl
################################################################################

resource "aws_elasticache_user" "this" {
  for_each = local.create_users ? local.rbac_access_strings : {}

  user_id       = "${var.name}-${each.key}"
  user_name     = each.key
  engine        = "redis"
  access_string = each.value

  authentication_mode {
    type      = "password"
    passwords = [local.user_passwords[each.key]]
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = local.user_passwords[each.key] != null
      error_message = "Set ${each.key}_password (for example TF_VAR_${each.key}_password from your secret store), or set create_users = false and pass user_group_ids."
    }
  }
}

resource "aws_elasticache_user" "disabled_default" {
  count = local.create_users ? 1 : 0

  user_id       = "${var.name}-default"
  user_name     = "default"
  engine        = "redis"
  access_string = local.default_user_access_string

  # The user is off, so its password is never used; it is random (two UUIDs
  # from a cryptographic source) only because ElastiCache requires one, and it
  # is generated once: later plans ignore it.
  authentication_mode {
    type      = "password"
    passwords = ["${uuid()}${uuid()}"]
  }

  tags = var.tags

  lifecycle {
    ignore_changes = [authentication_mode]
  }
}

resource "aws_elasticache_user_group" "this" {
  count = local.create_users ? 1 : 0

  user_group_id = "${var.name}-users"
  engine        = "redis"
  user_ids      = concat(aws_elasticache_user.disabled_default[*].user_id, [for role, user in aws_elasticache_user.this : user.user_id])

  tags = var.tags
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.log_types

  name              = "${local.log_group_prefix}/${each.key}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = local.kms_key_arn

  tags = var.tags
}

################################################################################
# Replication group
################################################################################

resource "aws_elasticache_replication_group" "this" {
  count = local.create ? 1 : 0

  replication_group_id = var.name
  description          = var.description

  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = var.port
  parameter_group_name = local.parameter_group_name

  cluster_mode            = var.cluster_mode_enabled ? "enabled" : "disabled"
  num_cache_clusters      = var.cluster_mode_enabled ? null : var.num_cache_clusters
  num_node_groups         = var.cluster_mode_enabled ? var.num_node_groups : null
  replicas_per_node_group = var.cluster_mode_enabled ? var.replicas_per_node_group : null

  multi_az_enabled           = var.multi_az_enabled
  automatic_failover_enabled = var.automatic_failover_enabled

  subnet_group_name  = local.subnet_group_name
  security_group_ids = local.security_group_ids

  # Not variables: a deployment of this module is always encrypted and always
  # authenticated. TLS is required, not merely offered.
  at_rest_encryption_enabled = true
  kms_key_id                 = local.kms_key_arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  user_group_ids             = local.user_group_ids

  snapshot_retention_limit  = var.snapshot_retention_limit
  snapshot_window           = var.snapshot_window
  final_snapshot_identifier = var.create_final_snapshot ? coalesce(var.final_snapshot_identifier, "${var.name}-final") : null

  maintenance_window         = var.maintenance_window
  auto_minor_version_upgrade = var.auto_minor_version_upgrade
  apply_immediately          = var.apply_immediately
  notification_topic_arn     = var.notification_topic_arn

  dynamic "log_delivery_configuration" {
    for_each = aws_cloudwatch_log_group.this

    content {
      destination      = log_delivery_configuration.value.name
      destination_type = "cloudwatch-logs"
      log_format       = "json"
      log_type         = log_delivery_configuration.key
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !var.multi_az_enabled || var.automatic_failover_enabled
      error_message = "multi_az_enabled needs automatic_failover_enabled = true: set it, or turn multi-AZ off (not recommended)."
    }

    precondition {
      condition     = !var.automatic_failover_enabled || (var.cluster_mode_enabled ? var.replicas_per_node_group >= 1 : var.num_cache_clusters >= 2)
      error_message = "Automatic failover needs a replica to promote: set num_cache_clusters >= 2 (cluster mode off) or replicas_per_node_group >= 1 (cluster mode on)."
    }

    precondition {
      condition     = !var.cluster_mode_enabled || var.automatic_failover_enabled
      error_message = "Cluster mode needs automatic_failover_enabled = true."
    }

    precondition {
      condition     = !var.multi_az_enabled || !var.create_subnet_group || length(var.subnet_ids) >= 2
      error_message = "Multi-AZ needs subnet_ids in at least two availability zones: pass two or more private subnets."
    }

    precondition {
      condition     = var.create_subnet_group || var.subnet_group_name != null
      error_message = "Set subnet_group_name when create_subnet_group is false."
    }

    precondition {
      condition     = var.create_parameter_group || var.parameter_group_name != null
      error_message = "Set parameter_group_name when create_parameter_group is false."
    }

    precondition {
      condition     = var.create_kms_key || var.kms_key_arn != null
      error_message = "Set kms_key_arn when create_kms_key is false: data at rest is always encrypted with a customer managed key."
    }

    precondition {
      condition     = length(local.security_group_ids) > 0
      error_message = "Attach a security group: keep create_security_group = true or pass security_group_ids (otherwise the VPC's default group would be used)."
    }

    precondition {
      condition     = length(local.user_group_ids) > 0
      error_message = "Authentication is always on: keep create_users = true or pass user_group_ids."
    }
  }
}

################################################################################
# Alarms, one set per node
################################################################################

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = each.key
  alarm_description   = each.value.description
  namespace           = "AWS/ElastiCache"
  metric_name         = each.value.metric_name
  dimensions          = { CacheClusterId = each.value.node }
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison_operator
  treat_missing_data  = each.value.treat_missing_data
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  tags = var.tags

  depends_on = [aws_elasticache_replication_group.this]
}
