################################################################################
# General
################################################################################

variable "create" {
  description = "Create the resources of this module. Set false to turn the whole module off without removing the call."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name of the replication group; also the prefix of every other resource (users, log groups, alarms)."
  type        = string

  validation {
    condition     = length(var.name) <= 30 && can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", var.name))
    error_message = "Set name to at most 30 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen (for example \"orders-redis\"): ElastiCache replication group and RBAC user ids are derived from it and allow no more."
  }
}

variable "description" {
  description = "Description of the replication group."
  type        = string
  default     = "Hardened Redis (redis-conf policy) managed by Terraform"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

################################################################################
# Engine and topology
################################################################################

variable "engine_version" {
  description = "Redis OSS engine version as major.minor, for example \"7.1\". The parameter group family is derived from it."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^7\\.[0-9]+$", var.engine_version))
    error_message = "Set engine_version to a Redis OSS 7 version written as major.minor, such as \"7.1\": required TLS (transit_encryption_mode) and the redis7 parameter family this module manages need Redis 7."
  }
}

variable "node_type" {
  description = "Node instance type. The policy's `maxmemory` is the node's memory, so size the node for the data set."
  type        = string
  default     = "cache.r7g.large"

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.node_type))
    error_message = "Set node_type to an ElastiCache node type such as \"cache.r7g.large\" or \"cache.t4g.medium\"."
  }
}

variable "port" {
  description = "TCP port Redis listens on (TLS only)."
  type        = number
  default     = 6379

  validation {
    condition     = var.port >= 1024 && var.port <= 65535 && floor(var.port) == var.port
    error_message = "Set port to a whole number between 1024 and 65535 (6379 is the Redis default)."
  }
}

variable "cluster_mode_enabled" {
  description = "Shard the key space (Redis Cluster): use num_node_groups and replicas_per_node_group. When false the group has one primary and num_cache_clusters - 1 replicas."
  type        = bool
  default     = false
}

variable "num_cache_clusters" {
  description = "Cluster mode off: number of nodes (one primary, the rest replicas). Multi-AZ needs at least 2."
  type        = number
  default     = 2

  validation {
    condition     = var.num_cache_clusters >= 1 && var.num_cache_clusters <= 6 && floor(var.num_cache_clusters) == var.num_cache_clusters
    error_message = "Set num_cache_clusters to a whole number from 1 to 6 (one primary plus up to 5 replicas); use 2 or more for multi-AZ failover."
  }
}

variable "num_node_groups" {
  description = "Cluster mode on: number of shards."
  type        = number
  default     = 2

  validation {
    condition     = var.num_node_groups >= 1 && var.num_node_groups <= 500 && floor(var.num_node_groups) == var.num_node_groups
    error_message = "Set num_node_groups to a whole number of shards from 1 to 500."
  }
}

variable "replicas_per_node_group" {
  description = "Cluster mode on: replicas in each shard. Multi-AZ failover needs at least 1."
  type        = number
  default     = 1

  validation {
    condition     = var.replicas_per_node_group >= 0 && var.replicas_per_node_group <= 5 && floor(var.replicas_per_node_group) == var.replicas_per_node_group
    error_message = "Set replicas_per_node_group to a whole number from 0 to 5; use 1 or more for multi-AZ failover."
  }
}

variable "multi_az_enabled" {
  description = "Place replicas in other availability zones and fail over to them. Requires automatic_failover_enabled and at least one replica."
  type        = bool
  default     = true
}

variable "automatic_failover_enabled" {
  description = "Promote a replica automatically when the primary fails. Required in cluster mode and with multi-AZ."
  type        = bool
  default     = true
}

variable "auto_minor_version_upgrade" {
  description = "Apply minor engine upgrades (security fixes) in the maintenance window."
  type        = bool
  default     = true
}

variable "apply_immediately" {
  description = "Apply changes now instead of in the next maintenance window (may restart nodes)."
  type        = bool
  default     = false
}

variable "maintenance_window" {
  description = "Weekly maintenance window in UTC, ddd:hh24:mi-ddd:hh24:mi. Must not overlap snapshot_window."
  type        = string
  default     = "sun:05:00-sun:06:00"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "Set maintenance_window as ddd:hh24:mi-ddd:hh24:mi in UTC with lowercase day names, for example \"sun:05:00-sun:06:00\" (at least 60 minutes)."
  }
}

variable "notification_topic_arn" {
  description = "SNS topic for ElastiCache events (failover, node replacement). Null for none."
  type        = string
  default     = null

  validation {
    condition     = var.notification_topic_arn == null || can(regex("^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.notification_topic_arn))
    error_message = "Set notification_topic_arn to an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>) or leave it null."
  }
}

################################################################################
# Network
################################################################################

variable "create_subnet_group" {
  description = "Create a subnet group from subnet_ids. When false, pass subnet_group_name."
  type        = bool
  default     = true
}

variable "subnet_ids" {
  description = "Private subnets for the nodes, in different availability zones (at least 2 for multi-AZ)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "Set subnet_ids to subnet ids like \"subnet-0123456789abcdef0\"; use private subnets in different availability zones."
  }
}

variable "subnet_group_name" {
  description = "Existing subnet group to use when create_subnet_group is false."
  type        = string
  default     = null
}

variable "create_security_group" {
  description = "Create a security group that admits the Redis port from allowed_security_group_ids and allowed_cidr_blocks only, with no egress."
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "VPC of the security group; required when create_security_group is true."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "Set vpc_id to a VPC id like \"vpc-0123456789abcdef0\"."
  }
}

variable "allowed_security_group_ids" {
  description = "Clients allowed to connect, as label => security group id (for example { app = aws_security_group.app.id }). The label names the rule; labels stay stable when ids are not yet known."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.allowed_security_group_ids : can(regex("^[A-Za-z0-9_.-]{1,64}$", k))])
    error_message = "Use labels of 1-64 letters, digits, '_', '.' or '-' as keys of allowed_security_group_ids, for example { app = \"sg-0123456789abcdef0\" }."
  }
}

variable "allowed_cidr_blocks" {
  description = "Networks allowed to connect, as label => CIDR (IPv4 or IPv6). Prefer allowed_security_group_ids; never the whole internet."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.allowed_cidr_blocks : can(cidrhost(v, 0)) && !contains(["0.0.0.0/0", "::/0"], v)])
    error_message = "Set allowed_cidr_blocks values to private CIDRs such as \"10.0.0.0/16\"; 0.0.0.0/0 and ::/0 are refused because Redis must never be reachable from the internet."
  }

  validation {
    condition     = alltrue([for k, v in var.allowed_cidr_blocks : can(regex("^[A-Za-z0-9_.-]{1,64}$", k))])
    error_message = "Use labels of 1-64 letters, digits, '_', '.' or '-' as keys of allowed_cidr_blocks, for example { office-vpn = \"10.20.0.0/16\" }."
  }
}

variable "security_group_ids" {
  description = "Additional existing security groups to attach to the nodes."
  type        = list(string)
  default     = []
}

################################################################################
# Hardening policy (parameter group)
################################################################################

variable "create_parameter_group" {
  description = "Create the parameter group that carries the redis-conf/redis.conf policy. When false, pass parameter_group_name (and keep it equal to the policy yourself)."
  type        = bool
  default     = true
}

variable "parameter_group_name" {
  description = "Existing parameter group to use when create_parameter_group is false."
  type        = string
  default     = null
}

################################################################################
# Encryption
################################################################################

variable "create_kms_key" {
  description = "Create a customer managed KMS key (with rotation) for data at rest, snapshots and the log groups. When false, pass kms_key_arn."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Existing KMS key ARN used when create_kms_key is false. Its policy must let CloudWatch Logs use it if log groups are created."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "Set kms_key_arn to a key ARN (arn:aws:kms:<region>:<account>:key/<id>), not a key id or alias."
  }
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before a created KMS key is deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "Set kms_key_deletion_window_in_days between 7 and 30 days."
  }
}

################################################################################
# Access control (RBAC, same roles as redis-conf/users.acl)
################################################################################

variable "create_users" {
  description = "Create the RBAC users admin, app and exporter, a disabled `default` user, and their user group. When false, pass user_group_ids."
  type        = bool
  default     = true
}

variable "user_group_ids" {
  description = "Existing RBAC user groups used when create_users is false. Authentication is always required."
  type        = list(string)
  default     = []
}

variable "admin_password" {
  description = "Password of `admin` (operators and `cargo run -p verify`). Pass it from a secret store, e.g. TF_VAR_admin_password; never commit it."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.admin_password == null || (can(regex("^[!-~]{16,128}$", var.admin_password)) && !can(regex("[\"/@]", var.admin_password)))
    error_message = "Set admin_password to 16-128 printable ASCII characters without spaces, '\"', '/' or '@' (ElastiCache rejects them); for example: openssl rand -base64 48 | tr -d '/+=' | cut -c1-40."
  }
}

variable "app_password" {
  description = "Password of `app` (the application: data commands, nothing in @dangerous or @admin). Pass it from a secret store; never commit it."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.app_password == null || (can(regex("^[!-~]{16,128}$", var.app_password)) && !can(regex("[\"/@]", var.app_password)))
    error_message = "Set app_password to 16-128 printable ASCII characters without spaces, '\"', '/' or '@' (ElastiCache rejects them); for example: openssl rand -base64 48 | tr -d '/+=' | cut -c1-40."
  }
}

variable "exporter_password" {
  description = "Password of `exporter` (redis_exporter: INFO, SLOWLOG, LATENCY, no keys). Pass it from a secret store; never commit it."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.exporter_password == null || (can(regex("^[!-~]{16,128}$", var.exporter_password)) && !can(regex("[\"/@]", var.exporter_password)))
    error_message = "Set exporter_password to 16-128 printable ASCII characters without spaces, '\"', '/' or '@' (ElastiCache rejects them); for example: openssl rand -base64 48 | tr -d '/+=' | cut -c1-40."
  }
}

################################################################################
# Snapshots
################################################################################

variable "snapshot_retention_limit" {
  description = "Days of automatic daily snapshots to keep."
  type        = number
  default     = 7

  validation {
    condition     = var.snapshot_retention_limit >= 1 && var.snapshot_retention_limit <= 35 && floor(var.snapshot_retention_limit) == var.snapshot_retention_limit
    error_message = "Set snapshot_retention_limit to a whole number of days from 1 to 35; 0 would turn automatic backups off."
  }
}

variable "snapshot_window" {
  description = "Daily snapshot window in UTC, hh24:mi-hh24:mi (at least 60 minutes). Must not overlap maintenance_window."
  type        = string
  default     = "03:00-04:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.snapshot_window))
    error_message = "Set snapshot_window as hh24:mi-hh24:mi in UTC, for example \"03:00-04:00\" (at least 60 minutes)."
  }
}

variable "create_final_snapshot" {
  description = "Take a final snapshot when the replication group is deleted."
  type        = bool
  default     = true
}

variable "final_snapshot_identifier" {
  description = "Name of the final snapshot; defaults to \"<name>-final\"."
  type        = string
  default     = null
}

################################################################################
# Logs and alarms
################################################################################

variable "create_cloudwatch_log_groups" {
  description = "Create KMS-encrypted CloudWatch log groups and deliver the slow log and the engine log to them (JSON)."
  type        = bool
  default     = true
}

variable "log_retention_in_days" {
  description = "Retention of the slow-log and engine-log groups."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "Set log_retention_in_days to a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653); keep 365 or more for audits."
  }
}

variable "create_cloudwatch_alarms" {
  description = "Create per-node CloudWatch alarms for CPU, memory, evictions, replication lag and connections."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs (usually SNS topics) notified when an alarm fires."
  type        = list(string)
  default     = []
}

variable "ok_actions" {
  description = "ARNs notified when an alarm returns to OK."
  type        = list(string)
  default     = []
}

variable "alarm_thresholds" {
  description = "Alarm thresholds: engine CPU %, memory % of maxmemory, evictions per 5 minutes, replication lag in seconds, client connections."
  type = object({
    cpu_percent             = optional(number, 80)
    memory_percent          = optional(number, 80)
    evictions               = optional(number, 0)
    replication_lag_seconds = optional(number, 5)
    connections             = optional(number, 5000)
  })
  default = {}

  validation {
    condition     = var.alarm_thresholds.cpu_percent > 0 && var.alarm_thresholds.cpu_percent <= 100 && var.alarm_thresholds.memory_percent > 0 && var.alarm_thresholds.memory_percent <= 100
    error_message = "Set alarm_thresholds.cpu_percent and alarm_thresholds.memory_percent to percentages above 0 and at most 100."
  }

  validation {
    condition     = var.alarm_thresholds.evictions >= 0 && var.alarm_thresholds.replication_lag_seconds > 0 && var.alarm_thresholds.connections > 0
    error_message = "Set alarm_thresholds.evictions to 0 or more, and replication_lag_seconds and connections above 0."
  }
}

################################################################################
# Verification
################################################################################

variable "verify_password_file" {
  description = "Path of the file holding the admin password, used in the verify_command output (the password itself never appears in outputs)."
  type        = string
  default     = "admin.password"
}
