"""An unknown instance type is refused as SageMaker refuses it: ValidationException, "Member must
satisfy enum value set", from the enums of botocore's sagemaker service model (TrainingInstanceType,
ProcessingInstanceType, ProductionVariantInstanceType; botocore/data/sagemaker/*/service-2.json),
read by localcloud's front door (localcloud/shapes.py) for the wire and for the in-process client
the pipeline executor uses alike: one source of truth, no copied list."""

from __future__ import annotations

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from localcloud.errors import ValidationException
from localcloud.json_api import service_model

ROLE = "arn:aws:iam::000000000000:role/x"
REQUESTS = {
    "CreateTrainingJob": (
        {
            "TrainingJobName": "t1",
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
            "ResourceConfig": {"InstanceType": "ml.foo", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        },
        "resourceConfig.instanceType",
    ),
    "CreateProcessingJob": (
        {
            "ProcessingJobName": "p1",
            "AppSpecification": {"ImageUri": "img"},
            "RoleArn": ROLE,
            "ProcessingResources": {
                "ClusterConfig": {"InstanceType": "ml.foo", "InstanceCount": 1, "VolumeSizeInGB": 1}
            },
        },
        "processingResources.clusterConfig.instanceType",
    ),
    "CreateEndpointConfig": (
        {
            "EndpointConfigName": "c1",
            "ProductionVariants": [
                {"VariantName": "A", "ModelName": "m", "InstanceType": "ml.foo", "InitialInstanceCount": 1}
            ],
        },
        "productionVariants.1.member.instanceType",
    ),
}


@pytest.mark.parametrize("operation", sorted(REQUESTS))
def test_unknown_instance_type_is_refused(localcloud, client, operation):
    params, where = REQUESTS[operation]
    sm = client("sagemaker")
    with pytest.raises(ClientError) as caught:
        getattr(sm, xform_name(operation))(**params)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert (
        f"Value 'ml.foo' at '{where}' failed to satisfy constraint: Member must satisfy enum value set"
        in error["Message"]
    )
    # The listed values are the model's own enum.
    shape = service_model("sagemaker").operation_model(operation).input_shape
    for part in where.replace(".member", "").split("."):
        if part.isdigit():
            shape = shape.member
            continue
        shape = next(s for n, s in shape.members.items() if n[0].lower() + n[1:] == part)
    assert shape.enum and "ml.m5.large" in shape.enum and "ml.foo" not in shape.enum
    assert ", ".join(shape.enum) in error["Message"]
    # The pipeline executor's in-process client is refused the same way.
    with pytest.raises(ValidationException, match="ml.foo"):
        localcloud.cloud.client("sagemaker").call(operation, params)
