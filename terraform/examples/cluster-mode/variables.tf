variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name of the replication group and prefix of its resources."
  type        = string
  default     = "example-redis-cluster"
}

variable "node_type" {
  description = "Node type; small for a trial, size it for the data set in production."
  type        = string
  default     = "cache.t4g.medium"
}

variable "vpc_id" {
  description = "VPC holding the subnets and the clients."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in different availability zones."
  type        = list(string)
}

variable "client_security_group_id" {
  description = "Security group of the clients (application, CI runner that runs verify); the only source allowed in."
  type        = string
}

variable "alarm_topic_arn" {
  description = "SNS topic notified by the alarms; null for none."
  type        = string
  default     = null
}

variable "admin_password" {
  description = "Password of the admin user. Set TF_VAR_admin_password from your secret store."
  type        = string
  sensitive   = true
}

variable "app_password" {
  description = "Password of the app user. Set TF_VAR_app_password from your secret store."
  type        = string
  sensitive   = true
}

variable "exporter_password" {
  description = "Password of the exporter user. Set TF_VAR_exporter_password from your secret store."
  type        = string
  sensitive   = true
}

variable "verify_password_file" {
  description = "File the CI job writes the admin password to before running verify_command."
  type        = string
  default     = "admin.password"
}
