# The example doubles as a test: planned and applied against a mocked AWS
# provider, offline, with fixture passwords that exist only here.

mock_provider "aws" {}

variables {
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids               = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0dddddddddddddddd"]
  client_security_group_id = "sg-0cccccccccccccccc"
  admin_password           = "test-only-admin-0000000000"
  app_password             = "test-only-app-00000000000"
  exporter_password        = "test-only-exporter-000000"
}

run "ci_gets_a_verify_command" {
  command = apply

  assert {
    condition     = output.verify_command == "cargo run -p verify -- --target rediss://${output.endpoint}:6379 --user admin --password-file admin.password"
    error_message = "The example must output a ready verify command for CI."
  }

  assert {
    condition     = output.endpoint != null && output.port == 6379
    error_message = "The example must output its endpoint and port."
  }
}
