"""IAM in localcloud: the template's roles (template.py), their state and credentials
(models.py), the IAM query API (responses.py), policy evaluation (policy.py), which IAM action
and resource each request needs (actions.py), and the opt-in request recorder (recorder.py)."""
