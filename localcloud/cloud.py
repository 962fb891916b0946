"""The LocalCloud: config, durable state, and each service's backend, created on first use."""
from __future__ import annotations

from functools import cached_property

from localcloud.config import Config, make_private_dir
from localcloud.state import StateStore


class LocalCloud:
    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        make_private_dir(self.config.home)
        self.state = StateStore(self.config.state_db)

    @cached_property
    def s3(self):
        from localcloud.s3.models import S3Backend
        return S3Backend(self)

    @cached_property
    def featurestore(self):
        from localcloud.featurestore.models import FeatureStoreBackend
        return FeatureStoreBackend(self)

    @cached_property
    def hosting(self):
        from localcloud.sagemaker.hosting import HostingBackend
        return HostingBackend(self)

    def close(self) -> None:
        """Flush and close the backends that were started (buffered offline-store writes...)."""
        for name in ("featurestore", "hosting", "s3"):
            backend = self.__dict__.get(name)
            if backend is not None and hasattr(backend, "close"):
                backend.close()
