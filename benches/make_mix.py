#!/usr/bin/env python3
"""The benchmark mix (issue 19): 400 events as EventBridge delivers them,
weighted the way an organization's CloudTrail stream is, not one typical
event: mostly small read-only and data-plane calls (KMS and S3 on a
service's behalf, STS, Describe/List/Get), some writes, a few console
sign-ins, errors, Insight records, and a rare large one.

Built from the hand-written fixtures (tests/fixtures/events.jsonl, themselves
shaped after CloudTrail's documented examples) and the three bench events,
each copy with its own eventID and time; calls of services the fixtures do
not have are the fixtures' shapes under those services' names. Seeded, so
the file is the same on every run:

    python3 benches/make_mix.py > benches/events/mix.jsonl

Each line's class (for per-class figures) is in benches/events/mix-classes.txt.
"""
import copy
import json
import random
import sys
import uuid

ROOT = __file__.rsplit("/benches/", 1)[0]


def load():
    by_id = {}
    for line in open(f"{ROOT}/tests/fixtures/events.jsonl"):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("detail"), dict) and event.get("id"):
            by_id[event["id"]] = event
    for name in ("small", "typical", "large"):
        by_id[f"bench-{name}"] = json.load(open(f"{ROOT}/benches/events/{name}.json"))
    return by_id


# (class, template, weight, extra services it stands in for)
CLASSES = [
    ("data-plane", "fx-kms-decrypt-by-service", 60, ["kms"]),
    ("data-plane", "fx-s3-get-object-denied", 10, []),
    ("data-plane", "fx-aws-account-principal", 30, []),
    ("read-only", "fx-unknown-account", 25, ["dynamodb:DescribeTable", "rds:DescribeDBInstances", "ecs:ListClusters",
                                              "eks:DescribeCluster", "logs:DescribeLogGroups", "monitoring:GetMetricData",
                                              "sqs:GetQueueAttributes", "sns:ListTopics", "route53:ListHostedZones",
                                              "cloudformation:DescribeStacks", "config:DescribeConfigRules",
                                              "ecr:DescribeRepositories", "elasticfilesystem:DescribeFileSystems",
                                              "autoscaling:DescribeAutoScalingGroups", "glue:GetTables",
                                              "athena:GetQueryExecution", "states:ListStateMachines",
                                              "apigateway:GetRestApis", "cloudfront:ListDistributions"]),
    ("read-only", "fx-identity-center-user", 8, []),
    ("read-only", "fx-ssm-get-parameter", 12, []),
    ("read-only", "fx-secretsmanager-get-secret", 8, []),
    ("read-only", "bench-small", 10, []),
    ("assume-role", "fx-sts-assume-role-cross-account", 40, []),
    ("assume-role", "fx-saml-user", 5, []),
    ("assume-role", "fx-web-identity-user", 5, []),
    ("write", "fx-iam-create-user", 14, ["iam", "dynamodb:CreateTable", "rds:ModifyDBInstance",
                                         "ecs:RegisterTaskDefinition", "sns:Subscribe", "sqs:SetQueueAttributes",
                                         "route53:ChangeResourceRecordSets", "cloudformation:UpdateStack",
                                         "codebuild:StartBuild", "kinesis:PutRecords", "firehose:UpdateDestination"]),
    ("write", "fx-ec2-authorize-security-group", 8, []),
    ("write", "fx-ec2-create-snapshot", 6, []),
    ("write", "fx-s3-put-bucket-logging", 5, []),
    ("write", "fx-lambda-update-function-code", 6, []),
    ("write", "fx-ssm-send-command", 4, []),
    ("write", "fx-ram-create-resource-share", 3, []),
    ("write", "fx-elb-create-load-balancer", 3, []),
    ("write", "fx-events-disable-other-rule", 3, []),
    ("write", "fx-unknown-service", 3, []),
    ("run-instances", "bench-typical", 14, []),
    ("run-instances", "fx-ec2-run-instances", 6, []),
    ("console-sign-in", "fx-console-login-iam-user-with-mfa", 4, []),
    ("console-sign-in", "fx-console-login-federated", 4, []),
    ("console-sign-in", "fx-console-login-failure", 2, []),
    ("console-sign-in", "fx-root-console-login-without-mfa", 1, []),
    ("error", "fx-account-mismatch", 4, []),
    ("error", "fx-federated-user", 4, []),
    ("insight", "fx-insight-iam", 2, []),
    ("service-event", "fx-service-event", 2, []),
    ("large", "bench-large", 2, []),
]

COUNT = 400


def main():
    rng = random.Random(19)
    templates = load()
    weights = [w for _, _, w, _ in CLASSES]
    classes = []
    out = sys.stdout
    services = set()
    for n in range(COUNT):
        cls, template, _, stand_ins = rng.choices(CLASSES, weights=weights)[0]
        event = copy.deepcopy(templates[template])
        detail = event["detail"]
        event["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        event["time"] = f"2026-11-20T10:{n // 60 % 60:02d}:{n % 60:02d}Z"
        if "eventID" in detail:
            detail["eventID"] = str(uuid.UUID(int=rng.getrandbits(128)))
            detail["eventTime"] = event["time"]
        if stand_ins and rng.random() < 0.7:
            pick = rng.choice(stand_ins)
            service, name = pick.split(":") if ":" in pick else (pick, None)
            detail["eventSource"] = f"{service}.amazonaws.com"
            event["source"] = f"aws.{service}"
            if name:
                detail["eventName"] = name
        if cls == "error" and "errorCode" not in detail:
            detail["errorCode"] = rng.choice(["AccessDenied", "ThrottlingException", "ValidationException"])
            detail["errorMessage"] = "User is not authorized to perform this operation"
        if cls == "run-instances" and rng.random() < 0.3:
            # RunInstances with many tags and block devices: 5 to 20 KB.
            params = detail.setdefault("requestParameters", {}) or {}
            params["tagSpecificationSet"] = {"items": [{"resourceType": "instance", "tags": [
                {"key": f"team-tag-{i}", "value": "x" * rng.randint(20, 200)} for i in range(rng.randint(20, 80))]}]}
            detail["requestParameters"] = params
        services.add(detail.get("eventSource"))
        classes.append(cls)
        out.write(json.dumps(event, separators=(",", ":")) + "\n")
    with open(f"{ROOT}/benches/events/mix-classes.txt", "w") as f:
        f.write("\n".join(classes) + "\n")
    print(f"{COUNT} events, {len(services - {None})} services", file=sys.stderr)


if __name__ == "__main__":
    main()
