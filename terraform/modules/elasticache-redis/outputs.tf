output "replication_group_id" {
  description = "Id of the replication group."
  value       = try(aws_elasticache_replication_group.this[0].id, null)
}

output "replication_group_arn" {
  description = "ARN of the replication group."
  value       = try(aws_elasticache_replication_group.this[0].arn, null)
}

output "endpoint" {
  description = "Address clients connect to: the configuration endpoint with cluster mode on, the primary endpoint with it off."
  value       = try(local.endpoint, null)
}

output "port" {
  description = "Port of the endpoints (TLS only)."
  value       = try(aws_elasticache_replication_group.this[0].port, null)
}

output "primary_endpoint_address" {
  description = "Primary endpoint (cluster mode off)."
  value       = try(aws_elasticache_replication_group.this[0].primary_endpoint_address, null)
}

output "reader_endpoint_address" {
  description = "Reader endpoint spreading reads over the replicas (cluster mode off)."
  value       = try(aws_elasticache_replication_group.this[0].reader_endpoint_address, null)
}

output "configuration_endpoint_address" {
  description = "Configuration endpoint (cluster mode on)."
  value       = try(aws_elasticache_replication_group.this[0].configuration_endpoint_address, null)
}

output "member_clusters" {
  description = "Node (member cluster) ids of the replication group."
  value       = try(aws_elasticache_replication_group.this[0].member_clusters, null)
}

output "engine_version_actual" {
  description = "Running engine version."
  value       = try(aws_elasticache_replication_group.this[0].engine_version_actual, null)
}

output "security_group_id" {
  description = "Id of the security group created by the module."
  value       = try(aws_security_group.this[0].id, null)
}

output "subnet_group_name" {
  description = "Name of the subnet group in use."
  value       = try(local.subnet_group_name, null)
}

output "parameter_group_name" {
  description = "Name of the parameter group in use (the redis-conf policy when created here)."
  value       = try(local.parameter_group_name, null)
}

output "kms_key_arn" {
  description = "KMS key encrypting data at rest, snapshots and logs."
  value       = try(local.kms_key_arn, null)
}

output "user_group_id" {
  description = "RBAC user group attached to the replication group."
  value       = try(aws_elasticache_user_group.this[0].user_group_id, null)
}

output "user_ids" {
  description = "RBAC user ids by role (admin, app, exporter, default)."
  value       = try(merge({ for role, user in aws_elasticache_user.this : role => user.user_id }, { default = aws_elasticache_user.disabled_default[0].user_id }), null)
}

output "log_group_names" {
  description = "CloudWatch log groups by log type (slow-log, engine-log)."
  value       = try({ for type, group in aws_cloudwatch_log_group.this : type => group.name }, null)
}

output "alarm_arns" {
  description = "CloudWatch alarm ARNs by <node>-<metric>."
  value       = try({ for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.arn }, null)
}

output "verify_target" {
  description = "Target URL for `cargo run -p verify -- --target` (TLS)."
  value       = try("rediss://${local.endpoint}:${aws_elasticache_replication_group.this[0].port}", null)
}

output "verify_command" {
  description = "Command that verifies the deployment as admin; write the admin password to verify_password_file first."
  value       = try("cargo run -p verify -- --target rediss://${local.endpoint}:${aws_elasticache_replication_group.this[0].port} --user admin --password-file ${var.verify_password_file}", null)
}
