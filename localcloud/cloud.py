"""The LocalCloud: config, durable state, each service's backend, and the in-process client.

This is localcloud's composition root: the one module that knows every service. Services never
import each other (an import-linter contract checks it); they meet at run time through the
`LocalCloud` they are given:

- `cloud.<service>`: that service's backend (`localcloud/<service>/models.py`), created on first
  use: typed methods over its durable state, as moto's `<service>_backends`;
- `cloud.client(name)`: an in-process client of a JSON service, as LocalStack's `connect_to`:
  `cloud.client("sagemaker").start_pipeline_execution(PipelineName=...)` runs the same input
  validation (botocore's model) and operation as a request over the wire, without HTTP or SigV4.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from localcloud.config import Config, make_private_dir
from localcloud.state import StateStore

if TYPE_CHECKING:
    from localcloud.athena.models import AthenaBackend
    from localcloud.autoscaling.models import AutoScalingBackend
    from localcloud.cloudformation.models import CloudFormationBackend
    from localcloud.cloudwatch.models import CloudWatchBackend
    from localcloud.events.models import EventsBackend
    from localcloud.featurestore.models import FeatureStoreBackend
    from localcloud.iam.models import IamBackend
    from localcloud.iam.recorder import Recorder
    from localcloud.json_api import JsonApi
    from localcloud.s3.models import S3Backend
    from localcloud.sagemaker.jobs.models import JobsBackend
    from localcloud.sagemaker.models import SageMakerBackend
    from localcloud.sagemaker.pipelines.models import PipelinesBackend


class LocalCloud:
    """One state directory's services. Thread-safe: the server answers requests on many threads."""

    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        make_private_dir(self.config.home)
        self.state = StateStore(self.config.state_db)
        from localcloud.iam.recorder import Recorder

        self.recorder: Recorder | None = Recorder.from_env()  # None unless MLGW_IAM_RECORD is set
        # Set when this process starts (or resumes) a pipeline execution: from then on it
        # mostly waits for job subprocesses (the daemon's warmer uses that moment).
        self.execution_launched = threading.Event()
        self._clients: dict[str, InProcessClient] = {}

    # -- backends, one per service folder ------------------------------------------------------

    @cached_property
    def iam(self) -> IamBackend:
        from localcloud.iam.models import IamBackend

        return IamBackend(self)

    @cached_property
    def s3(self) -> S3Backend:
        from localcloud.s3.models import S3Backend

        return S3Backend(self)

    @cached_property
    def featurestore(self) -> FeatureStoreBackend:
        from localcloud.featurestore.models import FeatureStoreBackend

        return FeatureStoreBackend(self)

    @cached_property
    def athena(self) -> AthenaBackend:
        from localcloud.athena.models import AthenaBackend

        return AthenaBackend(self)

    @cached_property
    def sagemaker(self) -> SageMakerBackend:
        """Models, endpoint configs, endpoints (and what serves them), the model registry."""
        from localcloud.sagemaker.models import SageMakerBackend

        return SageMakerBackend(self)

    @cached_property
    def pipelines(self) -> PipelinesBackend:
        from localcloud.sagemaker.pipelines.models import PipelinesBackend

        return PipelinesBackend(self)

    @cached_property
    def jobs(self) -> JobsBackend:
        """SageMaker processing and training jobs."""
        from localcloud.sagemaker.jobs.models import JobsBackend

        return JobsBackend(self)

    @cached_property
    def cloudwatch(self) -> CloudWatchBackend:
        from localcloud.cloudwatch.models import CloudWatchBackend

        return CloudWatchBackend(self)

    @cached_property
    def events(self) -> EventsBackend:
        from localcloud.events.models import EventsBackend

        return EventsBackend(self)

    @cached_property
    def autoscaling(self) -> AutoScalingBackend:
        from localcloud.autoscaling.models import AutoScalingBackend

        return AutoScalingBackend(self)

    @cached_property
    def cloudformation(self) -> CloudFormationBackend:
        """Stacks applied from templates, each resource through its service's backend."""
        from localcloud.cloudformation.models import CloudFormationBackend

        return CloudFormationBackend(self)

    # -- the in-process client -------------------------------------------------------------------

    def client(self, service: str) -> InProcessClient:
        """An in-process client of a JSON service by its boto3 name ("sagemaker", "events",
        "cloudwatch", "athena", "application-autoscaling"). KeyError for any other name."""
        found = self._clients.get(service)
        if found is None:
            from localcloud.services import json_api

            found = self._clients[service] = InProcessClient(self, json_api(service))
        return found

    # -- identity ----------------------------------------------------------------------------------

    def principal_of(self, access_key: str) -> tuple[str | None, str]:
        """(principal ARN or None for the administrator, secret key) of an access key; an
        unknown key gets the administrator's secret, so verification refuses it as AWS does."""
        if access_key == self.config.access_key:
            return None, self.config.secret_key
        found = self.iam.credentials(access_key) if access_key.startswith("ASIA") else None
        return found if found is not None else (None, self.config.secret_key)

    def admin_arn(self) -> str:
        return f"arn:aws:iam::{self.config.account_id}:user/localcloud"

    def close(self) -> None:
        """Flush and close the backends that were started (buffered offline-store writes...)."""
        for name in ("athena", "featurestore", "sagemaker", "jobs", "pipelines", "s3"):
            backend = self.__dict__.get(name)
            if backend is not None and hasattr(backend, "close"):
                backend.close()


class InProcessClient:
    """boto3's calling convention in-process: `client.describe_endpoint(EndpointName="e")` or
    `client.call("DescribeEndpoint", {...})` → the response dict (datetimes as the operation
    returns them). Raises the service's `AwsError` subclasses, as the wire would answer them."""

    def __init__(self, cloud: LocalCloud, api: JsonApi):
        self._cloud = cloud
        self._api = api
        self._by_python_name = {_snake(name): name for name in api.operations}

    def call(self, operation: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._api.invoke(self._cloud, operation, params or {})

    def __getattr__(self, python_name: str) -> Any:
        try:
            operation = self._by_python_name[python_name]
        except KeyError:
            raise AttributeError(f"{self._api.model_name} has no operation {python_name!r} here") from None
        return lambda **params: self.call(operation, params)


def _snake(name: str) -> str:
    from botocore import xform_name

    return xform_name(name)
