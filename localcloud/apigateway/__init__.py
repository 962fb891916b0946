"""A local stand-in for API Gateway in front of the ML Gateway: API keys and usage plans,
request validation, CORS, metrics, and the two integrations (Lambda proxy, direct to the
SageMaker endpoint). See server.py for the request path. The package imports nothing itself:
the CLI reads the key store without loading the server."""
