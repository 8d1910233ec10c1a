output "endpoint" {
  description = "Address clients connect to (TLS only)."
  value       = module.redis.endpoint
}

output "port" {
  description = "Redis port."
  value       = module.redis.port
}

output "security_group_id" {
  description = "Security group of the nodes."
  value       = module.redis.security_group_id
}

output "user_group_id" {
  description = "RBAC user group (admin, app, exporter, disabled default)."
  value       = module.redis.user_group_id
}

output "verify_command" {
  description = "Run in CI after writing the admin password to verify_password_file."
  value       = module.redis.verify_command
}
