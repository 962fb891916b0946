"""Deploy around Application Auto Scaling, and Deploy after a crash (issues 11 and 14).

AWS: "If the update would change the instance type for any model that is a target for auto
scaling, the update fails ... deregister the variant as a scalable target by calling the
DeregisterScalableTarget ... After you update the endpoint, you can register the updated
variant as a scalable target", and removing an autoscaled variant needs the same steps
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html); changing only
a variant's model is allowed. "If you delete an endpoint, Application Auto Scaling ...
deregisters those models as scalable targets"
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-delete-with-scaling.html).
DeregisterScalableTarget deletes the target's scaling policies; PutScalingPolicy and
DeregisterScalableTarget on an unregistered target are ObjectNotFoundException
(https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DeregisterScalableTarget.html).
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from processing import deploy
from tests.test_deploy_strategies import ROLE, _deploy, _weights, packages  # noqa: F401

DIMENSION = "sagemaker:variant:DesiredInstanceCount"
TRACKING = {
    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
    "TargetValue": 100.0,
    "ScaleOutCooldown": 60,
    "ScaleInCooldown": 300,
}


def _rid(variant: str) -> str:
    return f"endpoint/fraud/variant/{variant}"


def _autoscale(aas, variant: str) -> None:
    aas.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=_rid(variant),
        ScalableDimension=DIMENSION,
        MinCapacity=1,
        MaxCapacity=4,
    )
    aas.put_scaling_policy(
        PolicyName="invocations",
        ServiceNamespace="sagemaker",
        ResourceId=_rid(variant),
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=TRACKING,
    )


def _targets(aas) -> dict[str, tuple[int, int]]:
    found = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    return {t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"]) for t in found}


def _policies(aas) -> dict[str, str]:
    found = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    return {p["ResourceId"]: p["PolicyName"] for p in found}


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_scalable_targets_api_and_update_endpoint_refusal(localcloud, client, packages):  # noqa: F811
    sm, rt, (v1, v2, _) = packages
    aas = client("application-autoscaling")
    with pytest.raises(ClientError) as exc:
        aas.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=_rid("v1"),
            ScalableDimension=DIMENSION,
            MinCapacity=1,
            MaxCapacity=2,
        )
    assert _code(exc) == "ValidationException"  # no such endpoint yet
    _deploy(sm, rt, v1, "replace")
    with pytest.raises(ClientError) as exc:
        aas.put_scaling_policy(
            PolicyName="p",
            ServiceNamespace="sagemaker",
            ResourceId=_rid("v1"),
            ScalableDimension=DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=TRACKING,
        )
    assert _code(exc) == "ObjectNotFoundException"
    with pytest.raises(ClientError) as exc:
        aas.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=_rid("v1"),
            ScalableDimension=DIMENSION,
            MinCapacity=5,
            MaxCapacity=2,
        )
    assert _code(exc) == "ValidationException"
    _autoscale(aas, "v1")
    assert _targets(aas) == {_rid("v1"): (1, 4)} and _policies(aas) == {_rid("v1"): "invocations"}

    # UpdateEndpoint that removes the autoscaled variant is refused, the endpoint untouched.
    current = sm.describe_endpoint(EndpointName="fraud")["EndpointConfigName"]
    model = sm.describe_endpoint_config(EndpointConfigName=current)["ProductionVariants"][0]["ModelName"]
    sm.create_endpoint_config(
        EndpointConfigName="only-v9",
        ProductionVariants=[
            {"VariantName": "v9", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    with pytest.raises(ClientError) as exc:
        sm.update_endpoint(EndpointName="fraud", EndpointConfigName="only-v9")
    assert _code(exc) == "ValidationException" and "v1" in str(exc.value)
    # ... and so is one changing its instance type; changing only its model is allowed.
    sm.create_endpoint_config(
        EndpointConfigName="v1-bigger",
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.xlarge"}
        ],
    )
    with pytest.raises(ClientError):
        sm.update_endpoint(EndpointName="fraud", EndpointConfigName="v1-bigger")
    assert sm.describe_endpoint(EndpointName="fraud")["EndpointStatus"] == "InService"
    sm.create_endpoint_config(
        EndpointConfigName="v1-same",
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sm.update_endpoint(EndpointName="fraud", EndpointConfigName="v1-same")
    deploy.wait_in_service(sm, "fraud", 60)

    # Deregistering drops the policies; DeleteEndpoint deregisters what is left.
    aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=_rid("v1"), ScalableDimension=DIMENSION)
    assert _targets(aas) == {} and _policies(aas) == {}
    with pytest.raises(ClientError) as exc:
        aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=_rid("v1"), ScalableDimension=DIMENSION)
    assert _code(exc) == "ObjectNotFoundException"
    _autoscale(aas, "v1")
    sm.delete_endpoint(EndpointName="fraud")
    assert _targets(aas) == {}


def test_deploy_moves_autoscaling_to_the_variant_that_replaces_it(localcloud, client, packages):  # noqa: F811
    sm, rt, (v1, v2, v3) = packages
    aas = client("application-autoscaling")
    _deploy(sm, rt, v1, "replace")
    _autoscale(aas, "v1")
    deploy.deploy(
        sm,
        rt,
        package_arn=v2,
        endpoint_name="fraud",
        role_arn=ROLE,
        strategy="replace",
        new_weight=0.1,
        instance_type="ml.m5.large",
        instance_count=1,
        capture_uri=None,
        timeout=60,
        aas=aas,
    )
    assert _weights(sm) == {"v2": 1.0}
    assert _targets(aas) == {_rid("v2"): (1, 4)} and _policies(aas) == {_rid("v2"): "invocations"}
    # A canary keeps the autoscaled primary: nothing to move.
    deploy.deploy(
        sm,
        rt,
        package_arn=v3,
        endpoint_name="fraud",
        role_arn=ROLE,
        strategy="canary",
        new_weight=0.2,
        instance_type="ml.m5.large",
        instance_count=1,
        capture_uri=None,
        timeout=60,
        aas=aas,
    )
    assert _weights(sm) == {"v2": 0.8, "v3": 0.2}
    assert _targets(aas) == {_rid("v2"): (1, 4)}
    # Promoting the canary removes v2: its autoscaling moves to v3.
    assert deploy.finish_test(sm, "fraud", None, promote=True, aas=aas) == "v3"
    assert _targets(aas) == {_rid("v3"): (1, 4)} and _policies(aas) == {_rid("v3"): "invocations"}


def _deploy_resources(sm) -> tuple[set[str], set[str]]:
    models = {m["ModelName"] for m in sm.list_models(NameContains="fraud")["Models"]}
    configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs(NameContains="fraud")["EndpointConfigs"]}
    return models, configs


def test_a_retry_after_a_crash_mid_update_deploys_nothing_twice_and_cleans_up(localcloud, packages):  # noqa: F811
    """kill -9 during Deploy leaves, depending on the moment: a model without config, a config
    never applied, or an endpoint Updating to the new config. The retry must not deploy a
    second copy, and what the crashed run created but the endpoint does not use is deleted."""
    sm, rt, (v1, v2, _) = packages
    _deploy(sm, rt, v1, "replace")
    # The crashed run: model and config for v2, UpdateEndpoint sent, then killed (no wait).
    crashed_model = deploy.resource_name("fraud", "v2")
    sm.create_model(ModelName=crashed_model, ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": v2}])
    sm.create_endpoint_config(
        EndpointConfigName=crashed_model,
        ProductionVariants=[
            {
                "VariantName": "v2",
                "ModelName": crashed_model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sm.update_endpoint(EndpointName="fraud", EndpointConfigName=crashed_model)
    # An earlier crash even before any config: an orphan model.
    orphan = deploy.resource_name("fraud", "v2")
    sm.create_model(ModelName=orphan, ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": v2}])

    _deploy(sm, rt, v2, "replace")  # the retry
    endpoint = sm.describe_endpoint(EndpointName="fraud")
    assert endpoint["EndpointConfigName"] == crashed_model  # the crashed run's update stands
    assert _weights(sm) == {"v2": 1.0}
    models, configs = _deploy_resources(sm)
    assert models == {crashed_model} and configs == {crashed_model}

    # Retrying again changes nothing.
    _deploy(sm, rt, v2, "replace")
    assert _deploy_resources(sm) == ({crashed_model}, {crashed_model})
