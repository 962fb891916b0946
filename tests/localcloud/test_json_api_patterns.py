"""Input patterns from botocore's service models, applied as AWS applies them (Java regex).
Patterns Python's `re` cannot read (`\\p{L}`, UTF-16 surrogate pairs) used to be skipped, which
accepted values AWS refuses; `$` must not let a trailing newline through (issue 13's audit)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from localcloud.json_api import service_model
from localcloud.shapes import compiled
from tests.localcloud.test_featurestore import DEFINITIONS, ROLE

SERVED = ("sagemaker", "sagemaker-featurestore-runtime", "athena", "events", "sts", "iam")


def test_every_pattern_of_the_served_models_compiles():
    for name in SERVED:
        model = service_model(name)
        for shape_name in model.shape_names:
            pattern = model.shape_for(shape_name).metadata.get("pattern")
            if pattern:
                compiled(pattern)  # PatternTranslationError names any it cannot read


def _create(sm, **overrides):
    params = dict(
        FeatureGroupName="claims",
        RecordIdentifierFeatureName="policy_id",
        EventTimeFeatureName="event_time",
        FeatureDefinitions=DEFINITIONS,
        OnlineStoreConfig={"EnableOnlineStore": True},
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://feature-store/offline"}},
        RoleArn=ROLE,
    )
    params.update(overrides)
    return sm.create_feature_group(**params)


@pytest.mark.parametrize(
    "overrides, where",
    [
        ({"Tags": [{"Key": "team\x01", "Value": "risk"}]}, "tags.1.member.key"),  # \p{L}\p{Z}\p{N}...
        ({"Tags": [{"Key": "team", "Value": "risk\n"}]}, "tags.1.member.value"),
        ({"FeatureGroupName": "claims\n"}, "featureGroupName"),  # `$` is not `\Z`
        (
            {
                "OfflineStoreConfig": {
                    "S3StorageConfig": {"S3Uri": "s3://feature-store/offline"},
                    "DataCatalogConfig": {"TableName": "t\x00", "Catalog": "AwsDataCatalog", "Database": "db"},
                }
            },
            "tableName",
        ),
    ],
)
def test_create_feature_group_refuses_what_the_model_patterns_refuse(client, overrides, where):
    """CreateFeatureGroup's members (https://docs.aws.amazon.com/sagemaker/latest/APIReference/
    API_CreateFeatureGroup.html, API_Tag.html, API_DataCatalogConfig.html) carry these patterns."""
    sm = client("sagemaker")
    with pytest.raises(ClientError) as err:
        _create(sm, **overrides)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert where in err.value.response["Error"]["Message"]
    _create(sm, Tags=[{"Key": "équipe", "Value": "risque élevé 2"}])  # letters, spaces, digits
