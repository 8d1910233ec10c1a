terraform {
  # 1.7 brings mock_provider for `terraform test`; the module itself needs 1.5+
  # (strcontains, preconditions, optional object attributes).
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7.0"
    }
  }
}
