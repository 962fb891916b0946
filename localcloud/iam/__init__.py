"""IAM and STS in localcloud: the template's roles (template.py), their state and credentials
(models.py), the IAM and STS query API (responses.py), policy evaluation (policy.py), the error
classes (exceptions.py) and the opt-in request recorder (recorder.py). The conformance tooling
that maps recorded requests to IAM actions lives with the tests (tests/support/iam)."""
