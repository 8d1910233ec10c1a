# Cluster mode on: three shards, each a primary and one replica in another
# availability zone, hardened by the module like the replication-group
# example. Secrets come only from TF_VAR_* variables.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project = "redis-hardening"
      Example = "cluster-mode"
    }
  }
}

module "redis" {
  source = "../../modules/elasticache-redis"

  name                    = var.name
  engine_version          = "7.1"
  node_type               = var.node_type
  cluster_mode_enabled    = true
  num_node_groups         = 3
  replicas_per_node_group = 1

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
