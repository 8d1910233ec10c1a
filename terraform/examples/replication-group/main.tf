# One primary and one replica in two availability zones (cluster mode off),
# hardened by the module: TLS required, KMS at rest, RBAC, snapshots, logs
# and alarms. Secrets come only from TF_VAR_* variables.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project = "redis-hardening"
      Example = "replication-group"
    }
  }
}

module "redis" {
  source = "../../modules/elasticache-redis"

  name               = var.name
  engine_version     = "7.1"
  node_type          = var.node_type
  num_cache_clusters = 2

  vpc_id     = var.vpc_id
  subnet_ids = var.subnet_ids
  allowed_security_group_ids = {
    clients = var.client_security_group_id
  }

  admin_password    = var.admin_password
  app_password      = var.app_password
  exporter_password = var.exporter_password

  alarm_actions        = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  ok_actions           = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  verify_password_file = var.verify_password_file
}
