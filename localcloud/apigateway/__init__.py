"""A local stand-in for API Gateway in front of the ML Gateway: API keys and usage plans,
request validation, CORS, metrics, and the two integrations (Lambda proxy, direct to the
SageMaker endpoint). The files, as every localcloud service folder has them: models.py (the
state: API keys, usage plans, throttling), responses.py (the wire: routes, body parsing,
rendering), exceptions.py (the errors it answers with); and its concerns: server.py (the ASGI
server and the request path), openapi.py, metrics.py. The package imports nothing itself: the
CLI reads the key store (models.py) without loading the server."""
