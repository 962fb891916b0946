"""EventBridge pattern semantics operator by operator, and PutEvents to a bus that does not exist.

Expected values from AWS's documentation: "Content filtering in Amazon EventBridge event
patterns" and "Comparison operators for use in event patterns in Amazon EventBridge"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html),
"Matching events on null values and empty strings in Amazon EventBridge"
(eb-event-patterns-null-values.html), and the README of AWS's matcher, event-ruler
(https://github.com/aws/event-ruler: "Exists matching", "Anything-but matching",
"Compiled rules and JSON keys with dots").
"""

from __future__ import annotations

import json

import pytest

from localcloud.events.patterns import PatternError, compile_pattern

EVENT = {
    "version": "0",
    "id": "e-2",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "000000000000",
    "time": "2017-10-02T18:43:48Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "state": "running",
        "c-count": {"c1": 100},
        "eventVersion": "",
        "responseElements": None,
        "x-limit": 150,
        "source-ip": "10.0.0.42",
        "ipv6": "2001:db8::1",
        "tags": [],
        "list": ["a", 5, None, True],
        "FileName": "photo.PNG",
        "k8s.io/name": "web",
    },
}

CASES: list[tuple[dict, bool]] = [
    # keys joined with dots: in the pattern, in the event, or both (event-ruler README)
    ({"detail.state": ["running"]}, True),
    ({"detail.state": ["stopped"]}, False),
    ({"detail": {"k8s": {"io/name": ["web"]}}}, True),
    ({"detail.k8s.io/name": ["web"]}, True),
    ({"source": ["aws.ec2"], "detail.state": ["running"], "detail": {"x-limit": [150]}}, True),
    # null and empty string are different values (null-values page)
    ({"detail": {"responseElements": [None]}}, True),
    ({"detail": {"eventVersion": [None]}}, False),
    ({"detail": {"eventVersion": [""]}}, True),
    ({"detail": {"responseElements": [""]}}, False),
    # exists works on leaves only: an object or an empty array is no leaf (README)
    ({"detail": {"c-count": [{"exists": False}]}}, True),
    ({"detail": {"c-count": [{"exists": True}]}}, False),
    ({"detail": {"tags": [{"exists": False}]}}, True),
    ({"detail": {"tags": [{"exists": True}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"tags": {"key": [{"exists": False}]}}}, True),
    ({"detail": {"tags": {"key": [{"exists": True}]}}}, False),
    ({"detail": {"state": {"sub": [{"exists": False}]}}}, True),
    # arrays in the event: any element; numbers, strings and booleans are distinct values
    ({"detail": {"list": [5]}}, True),
    ({"detail": {"list": ["5"]}}, False),
    ({"detail": {"list": [True]}}, True),
    ({"detail": {"list": [1]}}, False),
    ({"detail": {"list": [None]}}, True),
    ({"detail": {"list": [{"prefix": "a"}]}}, True),
    # prefix / suffix / equals-ignore-case only work on strings
    ({"detail": {"x-limit": [{"prefix": "15"}]}}, False),
    ({"time": [{"prefix": "2017-10-02"}]}, True),
    ({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}, True),
    ({"detail": {"FileName": [{"suffix": ".png"}]}}, False),
    ({"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}, True),
    ({"detail": {"state": [{"equals-ignore-case": "RUNNING"}]}}, True),
    ({"detail": {"x-limit": [{"equals-ignore-case": "150"}]}}, False),
    # anything-but: a value, a list of strings or numbers, prefix/suffix/wildcard/ignore-case
    # (one string or a list); an absent field never matches it
    ({"detail": {"state": [{"anything-but": "initializing"}]}}, True),
    ({"detail": {"state": [{"anything-but": ["running", "stopped"]}]}}, False),
    ({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}, True),
    ({"detail": {"x-limit": [{"anything-but": 150}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": ["init", "error"]}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"prefix": ["run", "stop"]}}]}}, False),
    ({"detail": {"FileName": [{"anything-but": {"suffix": [".jpg", ".PNG"]}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"wildcard": ["*/lib/*", "r*g"]}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"wildcard": "*/bin/*.jar"}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "RUNNING"]}}]}}, False),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
    # anything-but prefix / suffix / wildcard / equals-ignore-case match null and numeric values
    # (they are not strings that start, end or match so): LocalStack's AWS-validated templates
    # (tests/aws/services/events/event_pattern_templates/) content_anything_prefix_null,
    # content_anything_prefix_int_value, content_anything_suffix_list_null,
    # content_anything_wildcard_null, content_anything_wildcard_int,
    # content_anything_but_ignorecase_null; a missing field still does not (..._missing_NEG).
    ({"detail": {"responseElements": [{"anything-but": {"prefix": "init"}}]}}, True),
    ({"detail": {"x-limit": [{"anything-but": {"prefix": "init"}}]}}, True),
    ({"detail": {"responseElements": [{"anything-but": {"suffix": [".txt", ".jpg"]}}]}}, True),
    ({"detail": {"responseElements": [{"anything-but": {"wildcard": "*/dir/*"}}]}}, True),
    ({"detail": {"x-limit": [{"anything-but": {"wildcard": "*/dir/*"}}]}}, True),
    ({"detail": {"responseElements": [{"anything-but": {"equals-ignore-case": "x"}}]}}, True),
    ({"detail": {"missing": [{"anything-but": {"prefix": "init"}}]}}, False),
    # numeric: JSON numbers only, as doubles
    ({"detail": {"x-limit": [{"numeric": [">", 100, "<=", 150]}]}}, True),
    ({"detail": {"x-limit": [{"numeric": [">", 150]}]}}, False),
    ({"detail": {"x-limit": [{"numeric": ["=", 1.5e2]}]}}, True),
    ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),
    ({"detail": {"list": [{"numeric": ["<", 10]}]}}, True),  # 5 in the array; true is no number
    # cidr, IPv4 and IPv6
    ({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    ({"detail": {"ipv6": [{"cidr": "2001:db8::/32"}]}}, True),
    # wildcard
    ({"detail": {"state": [{"wildcard": "run*"}]}}, True),
    ({"detail": {"state": [{"wildcard": "r*z"}]}}, False),
    # $or, with dotted keys in a branch
    ({"$or": [{"detail.state": ["stopped"]}, {"detail": {"x-limit": [{"numeric": [">", 100]}]}}]}, True),
    ({"$or": [{"detail.state": ["stopped"]}, {"source": ["aws.s3"]}]}, False),
]


@pytest.mark.parametrize("pattern,expected", CASES, ids=[json.dumps(p)[:70] for p, _ in CASES])
def test_operator_semantics(pattern, expected):
    assert compile_pattern(json.dumps(pattern)).matches(EVENT) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        {"s": [{"anything-but": ["a", 1]}]},  # strings or numbers, not both
        {"s": [{"anything-but": []}]},
        {"s": [{"anything-but": {"prefix": [1]}}]},
        {"s": [{"anything-but": {"suffix": []}}]},
        {"detail.state": ["x"], "detail": {"state": ["y"]}},  # one field given twice
    ],
)
def test_patterns_aws_refuses(pattern):
    with pytest.raises(PatternError):
        compile_pattern(json.dumps(pattern))


def test_put_events_to_a_bus_that_does_not_exist(client, localcloud):
    """PutEvents answers an entry naming a bus that does not exist with an EventId and no
    error; the event reaches no rule (not even the default bus's)."""
    events = client("events")
    events.put_rule(Name="all-ec2", EventPattern='{"source": ["aws.ec2"]}')
    result = events.put_events(
        Entries=[
            {"Source": "aws.ec2", "DetailType": "x", "Detail": "{}", "EventBusName": "no-such-bus"},
            {
                "Source": "aws.ec2",
                "DetailType": "x",
                "Detail": "{}",
                "EventBusName": "arn:aws:events:us-east-1:000000000000:event-bus/also-missing",
            },
            {"Source": "aws.ec2", "DetailType": "x", "Detail": "{}"},
        ]
    )
    assert result["FailedEntryCount"] == 0
    ids = [entry["EventId"] for entry in result["Entries"]]
    assert len(set(ids)) == 3 and all("ErrorCode" not in e for e in result["Entries"])
    assert [e["id"] for e in localcloud.cloud.events.list_events(10)] == [ids[2]]
