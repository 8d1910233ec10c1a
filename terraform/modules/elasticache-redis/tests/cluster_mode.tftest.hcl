# Cluster mode on: shards and replicas per shard, cluster-enabled parameter,
# one alarm set per node and the configuration endpoint in the verify command.

mock_provider "aws" {}

variables {
  name                    = "tt-cluster"
  cluster_mode_enabled    = true
  num_node_groups         = 3
  replicas_per_node_group = 2
  vpc_id                  = "vpc-0123456789abcdef0"
  subnet_ids              = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0dddddddddddddddd"]
  allowed_security_group_ids = {
    app = "sg-0cccccccccccccccc"
  }
  # Test fixtures only, shaped like real passwords; never used outside this test.
  admin_password    = "test-only-admin-0000000000"
  app_password      = "test-only-app-00000000000"
  exporter_password = "test-only-exporter-000000"
}

run "sharded" {
  command = apply

  assert {
    condition     = aws_elasticache_replication_group.this[0].cluster_mode == "enabled" && aws_elasticache_replication_group.this[0].num_node_groups == 3 && aws_elasticache_replication_group.this[0].replicas_per_node_group == 2
    error_message = "Cluster mode must shard into 3 node groups of 1 primary and 2 replicas."
  }

  assert {
    condition     = aws_elasticache_replication_group.this[0].transit_encryption_mode == "required" && aws_elasticache_replication_group.this[0].at_rest_encryption_enabled == "true"
    error_message = "Encryption must not depend on the topology."
  }

  assert {
    condition     = one([for p in aws_elasticache_parameter_group.this[0].parameter : p.value if p.name == "cluster-enabled"]) == "yes" && endswith(aws_elasticache_parameter_group.this[0].name, "-cluster")
    error_message = "The parameter group must enable cluster mode."
  }

  assert {
    condition     = one([for p in aws_elasticache_parameter_group.this[0].parameter : p.value if p.name == "maxmemory-policy"]) == "noeviction"
    error_message = "The policy must not change with the topology."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 45 && contains(keys(aws_cloudwatch_metric_alarm.this), "tt-cluster-0003-003-memory")
    error_message = "9 nodes need 5 alarms each, keyed by shard and node."
  }

  assert {
    condition     = output.endpoint == aws_elasticache_replication_group.this[0].configuration_endpoint_address
    error_message = "With cluster mode on, clients use the configuration endpoint."
  }

  assert {
    condition     = output.verify_command == "cargo run -p verify -- --target rediss://${aws_elasticache_replication_group.this[0].configuration_endpoint_address}:6379 --user admin --password-file admin.password"
    error_message = "verify_command must target the configuration endpoint over TLS."
  }
}
