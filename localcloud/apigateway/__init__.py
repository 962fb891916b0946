"""A local stand-in for API Gateway in front of the ML Gateway: API keys and usage plans,
request validation, CORS, metrics, and the two integrations (Lambda proxy, direct to the
SageMaker endpoint). See server.py for the request path."""
from localcloud.apigateway.server import DEFAULT_PORT, GatewayConfig, GatewayServer

__all__ = ["DEFAULT_PORT", "GatewayConfig", "GatewayServer"]
