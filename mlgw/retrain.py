"""The drift → retrain rule: a drift alarm going to ALARM re-runs the pipeline.

The rule matches the event CloudWatch itself puts on the default bus, `CloudWatch Alarm State
Change` from `aws.cloudwatch`, for the drift alarms (named `ml-gateway-drift-<feature>`) entering
ALARM. The pattern lives in retrain_rule.json, read here for localcloud's EventBridge and
embedded verbatim in infra/ml-gateway.yaml for AWS (a test keeps the two equal).
"""

from __future__ import annotations

import json
from pathlib import Path

RULE_NAME = "ml-gateway-retrain-on-drift"
PATTERN_FILE = Path(__file__).with_name("retrain_rule.json")


def pattern() -> dict:
    return json.loads(PATTERN_FILE.read_text())


def ensure_rule(events, pipeline_arn: str, role_arn: str, parameters: dict[str, str]) -> str:
    """Create or update the rule and its one target (the pipeline, started with `parameters`);
    the rule ARN."""
    rule = events.put_rule(
        Name=RULE_NAME,
        EventPattern=json.dumps(pattern()),
        State="ENABLED",
        Description="A drift alarm went to ALARM: retrain and redeploy",
    )
    events.put_targets(
        Rule=RULE_NAME,
        Targets=[
            {
                "Id": "retrain-pipeline",
                "Arn": pipeline_arn,
                "RoleArn": role_arn,
                "SageMakerPipelineParameters": {
                    "PipelineParameterList": [{"Name": name, "Value": str(value)} for name, value in parameters.items()]
                },
            }
        ],
    )
    return rule["RuleArn"]
