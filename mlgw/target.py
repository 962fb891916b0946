"""Where the app talks to: `local` (a localcloud, signed with its credentials and aimed at its
URL; its state directory beside it) or `aws` (an AWS account through boto3's own credential
chain, never localcloud's). The one place the app chooses between them: every command, the
pipeline runners and the studio take a `Target` and ask it for their session, clients and
bucket, so the same code reads localcloud and AWS alike.

The workflow's bucket is the SageMaker SDK's default, `sagemaker-<region>-<account>`
(sagemaker.Session.default_bucket), so objects are laid out alike on both targets.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from boto3 import Session
    from botocore.config import Config as BotoConfig

    from localcloud.config import Config

Kind = Literal["local", "aws"]


def export_region(region: str) -> None:
    """Make `region` the process's region as AWS's libraries read it: botocore's default session
    reads only AWS_DEFAULT_REGION (botocore/configprovider.py, 'region'), and SDK 3.27 builds a
    boto3 client when it is imported (sagemaker/ai_registry/air_hub.py), before any session of
    ours reaches it; AWS_REGION is set alike for tools that read that one. Call it before
    importing the SDK."""
    import os

    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["AWS_REGION"] = region


def sdk_default_bucket(region: str, account_id: str) -> str:
    """The SageMaker SDK's default bucket name in `region` of `account_id`."""
    return f"sagemaker-{region}-{account_id}"


class Target:
    """A place the app's AWS calls go: `kind` "local" or "aws", its boto3 `session`, the
    `endpoint_url` every client is aimed at (localcloud's; None on AWS), `home` (localcloud's
    state directory, where job logs are; None on AWS) and the workflow's `bucket`.

    On AWS the account and the default bucket are asked of STS the first time they are needed
    (GetCallerIdentity), so making a Target costs no call and needs no credentials yet."""

    def __init__(
        self,
        kind: Kind,
        session: Session,
        endpoint_url: str | None = None,
        home: Path | None = None,
        bucket: str | None = None,
        account_id: str | None = None,
    ) -> None:
        self.kind: Kind = kind
        self.session = session
        self.endpoint_url = endpoint_url
        self.home = home
        self._bucket = bucket
        self._bucket_resolved = bucket is not None or kind == "local"
        self._account_id = account_id

    @classmethod
    def local(cls, config: Config) -> Target:
        """The localcloud serving `config`: its credentials, region and URL; state in config.home;
        the bucket the SDK would choose in its account."""
        import boto3

        session = boto3.Session(
            aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key, region_name=config.region
        )
        return cls(
            "local",
            session,
            endpoint_url=config.url,
            home=config.home,
            bucket=sdk_default_bucket(config.region, config.account_id),
            account_id=config.account_id,
        )

    @classmethod
    def aws(cls, region: str | None = None, bucket: str | None = None, profile: str | None = None) -> Target:
        """The user's AWS account: boto3's credential chain (`profile` if named), `region` (None:
        boto3's default). `bucket` None: the SDK's default bucket of the caller's account.
        A region given is also exported for this process (export_region) before anything
        imports the SageMaker SDK."""
        import boto3

        if region:
            export_region(region)
        return cls("aws", boto3.Session(profile_name=profile, region_name=region), bucket=bucket)

    @property
    def region(self) -> str | None:
        region: str | None = self.session.region_name
        return region

    @property
    def account_id(self) -> str:
        """The account the target's calls act in: localcloud's, or the caller's on AWS (STS
        GetCallerIdentity; botocore's ClientError or NoCredentialsError when it cannot say)."""
        if self._account_id is None:
            if self.kind == "local":
                from localcloud.config import ACCOUNT_ID

                self._account_id = ACCOUNT_ID
            else:
                self._account_id = str(self.client("sts").get_caller_identity()["Account"])
        return self._account_id

    @property
    def bucket(self) -> str | None:
        """The workflow's default bucket (code, monitoring reports, baselines, evaluations): the
        one given, else on AWS `sagemaker-<region>-<account>`; None when AWS cannot name the
        account (no credentials yet: the pages that need it show AWS's own error)."""
        if not self._bucket_resolved:
            try:
                self._bucket = sdk_default_bucket(str(self.region), self.account_id)
            except Exception:  # noqa: BLE001 — any credential or connection failure
                self._bucket = None
            self._bucket_resolved = True
        return self._bucket

    def client(self, service: str, config: BotoConfig | None = None) -> Any:
        """A boto3 client of `service` on this target (botocore `config`: retries, timeouts)."""
        return self.session.client(service, endpoint_url=self.endpoint_url, config=config)

    def describe(self) -> str:
        """One phrase for messages: "localcloud http://127.0.0.1:4777" or "AWS us-east-1"."""
        return f"localcloud {self.endpoint_url}" if self.kind == "local" else f"AWS {self.region}"

    def __repr__(self) -> str:
        return f"Target({self.kind!r}, {self.describe()!r})"
