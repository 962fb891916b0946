"""Deploy step: serve an approved model package on the endpoint — create the endpoint on the
first run, update it in place on later ones (SageMaker swaps variants without downtime).

A package that is not Approved leaves the endpoint as it is. If anything fails before the
endpoint accepts the new config, what this step created is deleted again.
"""
from __future__ import annotations

import argparse
import sys
import time

import boto3
from botocore.exceptions import ClientError

from processing.job import JobError, run


def _endpoint(sm, name: str) -> dict | None:
    try:
        return sm.describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if "Could not find endpoint" in str(exc) or exc.response["Error"]["Code"] in (
                "ResourceNotFound", "ValidationException"):
            return None
        raise


def wait_in_service(sm, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    delay = 0.1   # a local endpoint is up in a second; an AWS one takes minutes
    while True:
        endpoint = sm.describe_endpoint(EndpointName=name)
        status = endpoint["EndpointStatus"]
        if status == "InService":
            return endpoint
        if status == "Failed":
            raise JobError(f"endpoint {name} failed: {endpoint.get('FailureReason', 'no reason given')}")
        if time.monotonic() > deadline:
            raise JobError(f"endpoint {name} still {status} after {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 15)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-package-arn", required=True)
    parser.add_argument("--endpoint-name", required=True)
    parser.add_argument("--instance-type", default="ml.m5.large")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--role-arn", required=True)
    parser.add_argument("--data-capture-uri", help="capture requests and responses here (Model Monitor)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)

    sm = boto3.client("sagemaker")
    package = sm.describe_model_package(ModelPackageName=args.model_package_arn)
    if package.get("ModelApprovalStatus") != "Approved":
        print(f"{args.model_package_arn} is {package.get('ModelApprovalStatus')}; "
              f"endpoint {args.endpoint_name} left unchanged", flush=True)
        return
    version = package.get("ModelPackageVersion", 0)
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    name = f"{args.endpoint_name}-v{version}-{stamp}"[:63]
    existing = _endpoint(sm, args.endpoint_name)
    if existing is not None and existing["EndpointStatus"] not in ("InService", "Failed"):
        raise JobError(f"endpoint {args.endpoint_name} is {existing['EndpointStatus']}; "
                       "deploy again when it is InService")

    sm.create_model(ModelName=name, ExecutionRoleArn=args.role_arn,
                    Containers=[{"ModelPackageName": args.model_package_arn}])
    created_config = False
    try:
        config = {"EndpointConfigName": name, "ProductionVariants": [{
            "VariantName": "AllTraffic", "ModelName": name, "InitialVariantWeight": 1.0,
            "InitialInstanceCount": args.instance_count, "InstanceType": args.instance_type}]}
        if args.data_capture_uri:
            config["DataCaptureConfig"] = {
                "EnableCapture": True, "InitialSamplingPercentage": 100,
                "DestinationS3Uri": args.data_capture_uri,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"],
                                             "CsvContentTypes": ["text/csv"]}}
        sm.create_endpoint_config(**config)
        created_config = True
        if existing is None:
            print(f"creating endpoint {args.endpoint_name} with {name}", flush=True)
            sm.create_endpoint(EndpointName=args.endpoint_name, EndpointConfigName=name)
        elif existing["EndpointStatus"] == "Failed":
            raise JobError(f"endpoint {args.endpoint_name} is Failed "
                           f"({existing.get('FailureReason', '')}); delete it and run again")
        else:
            print(f"updating endpoint {args.endpoint_name}: "
                  f"{existing['EndpointConfigName']} → {name}", flush=True)
            sm.update_endpoint(EndpointName=args.endpoint_name, EndpointConfigName=name)
    except Exception:
        if created_config:
            sm.delete_endpoint_config(EndpointConfigName=name)
        sm.delete_model(ModelName=name)
        raise
    endpoint = wait_in_service(sm, args.endpoint_name, args.timeout)
    if endpoint["EndpointConfigName"] != name:
        raise JobError(f"endpoint {args.endpoint_name} rolled back to "
                       f"{endpoint['EndpointConfigName']}: {endpoint.get('FailureReason', 'no reason given')}")
    print(f"endpoint {args.endpoint_name} InService on {name}", flush=True)


if __name__ == "__main__":
    sys.exit(run(main))
