"""CloudFormation in localcloud: stacks applied from a template, each resource created through
the localcloud service that owns it (`cloud.iam`, `cloud.s3`, ...)."""
