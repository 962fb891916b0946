"""IAM conformance tooling for tests/test_iam_conformance.py: which IAM action and resource each
recorded request needs (actions.py), what each service needs of the roles it is handed
(services.py), and the check of those needs against the template's policies (conformance.py)."""
