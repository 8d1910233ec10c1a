# Bad input is refused at plan time, with a message that says what to do.

mock_provider "aws" {}

variables {
  name       = "tt-valid"
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  # Test fixtures only, shaped like real passwords; never used outside this test.
  admin_password    = "test-only-admin-0000000000"
  app_password      = "test-only-app-00000000000"
  exporter_password = "test-only-exporter-000000"
}

run "rejects_bad_name" {
  command = plan
  variables {
    name = "Orders_Redis"
  }
  expect_failures = [var.name]
}

run "rejects_redis_6" {
  command = plan
  variables {
    engine_version = "6.2"
  }
  expect_failures = [var.engine_version]
}

run "rejects_internet_cidr" {
  command = plan
  variables {
    allowed_cidr_blocks = { anywhere = "0.0.0.0/0" }
  }
  expect_failures = [var.allowed_cidr_blocks]
}

run "rejects_short_password" {
  command = plan
  variables {
    admin_password = "short"
  }
  expect_failures = [var.admin_password]
}

run "rejects_password_with_at_sign" {
  command = plan
  variables {
    app_password = "test-only-app-0000@000000"
  }
  expect_failures = [var.app_password]
}

run "rejects_no_backups" {
  command = plan
  variables {
    snapshot_retention_limit = 0
  }
  expect_failures = [var.snapshot_retention_limit]
}

run "rejects_too_many_replicas" {
  command = plan
  variables {
    replicas_per_node_group = 6
  }
  expect_failures = [var.replicas_per_node_group]
}

run "rejects_bad_maintenance_window" {
  command = plan
  variables {
    maintenance_window = "Sunday 5am"
  }
  expect_failures = [var.maintenance_window]
}

run "rejects_kms_alias_instead_of_arn" {
  command = plan
  variables {
    create_kms_key = false
    kms_key_arn    = "alias/my-key"
  }
  expect_failures = [var.kms_key_arn]
}

run "rejects_multi_az_without_failover" {
  command = plan
  variables {
    automatic_failover_enabled = false
  }
  expect_failures = [aws_elasticache_replication_group.this]
}

run "rejects_failover_without_replica" {
  command = plan
  variables {
    num_cache_clusters = 1
  }
  expect_failures = [aws_elasticache_replication_group.this]
}

run "rejects_missing_password" {
  command = plan
  variables {
    exporter_password = null
  }
  expect_failures = [aws_elasticache_user.this]
}

run "rejects_missing_vpc" {
  command = plan
  variables {
    vpc_id = null
  }
  expect_failures = [aws_security_group.this]
}
