"""The LocalCloud: config, durable state, and each service's backend, created on first use."""
from __future__ import annotations

import threading
from functools import cached_property

from localcloud.config import Config, make_private_dir
from localcloud.state import StateStore


class LocalCloud:
    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        make_private_dir(self.config.home)
        self.state = StateStore(self.config.state_db)
        from localcloud.iam.recorder import Recorder
        self.recorder = Recorder.from_env()   # None unless MLGW_IAM_RECORD is set
        # Set when this process starts (or resumes) a pipeline execution: from then on it
        # mostly waits for job subprocesses (the daemon's warmer uses that moment).
        self.execution_launched = threading.Event()

    @cached_property
    def iam(self):
        from localcloud.iam.models import IamBackend
        return IamBackend(self)

    def principal_of(self, access_key: str) -> tuple[str | None, str]:
        """(principal ARN or None for the administrator, secret key) of an access key; an
        unknown key gets the administrator's secret, so verification refuses it as AWS does."""
        if access_key == self.config.access_key:
            return None, self.config.secret_key
        found = self.iam.credentials(access_key) if access_key.startswith("ASIA") else None
        return found if found is not None else (None, self.config.secret_key)

    def admin_arn(self) -> str:
        return f"arn:aws:iam::{self.config.account_id}:user/localcloud"

    @cached_property
    def s3(self):
        from localcloud.s3.models import S3Backend
        return S3Backend(self)

    @cached_property
    def featurestore(self):
        from localcloud.featurestore.models import FeatureStoreBackend
        return FeatureStoreBackend(self)

    @cached_property
    def athena(self):
        from localcloud.athena.models import AthenaBackend
        return AthenaBackend(self)

    @cached_property
    def hosting(self):
        from localcloud.sagemaker.endpoints import HostingBackend
        return HostingBackend(self)

    def close(self) -> None:
        """Flush and close the backends that were started (buffered offline-store writes...)."""
        for name in ("athena", "featurestore", "hosting", "s3"):
            backend = self.__dict__.get(name)
            if backend is not None and hasattr(backend, "close"):
                backend.close()
