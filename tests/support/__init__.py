"""Code the tests share that the product never runs (IAM conformance tooling...)."""
