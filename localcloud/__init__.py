"""localcloud: the embedded, Docker-free stand-in for the AWS services ml-gateway uses.

One HTTP server on 127.0.0.1 routes each request the way AWS would (SigV4 scope service,
X-Amz-Target, path) to a service folder; state lives on disk under `Config.home`.
"""

from localcloud.config import Config

__all__ = ["Config"]
