#!/usr/bin/env python3
"""A sample organization's CloudTrail for `trailrelay volumes` and `filter
suggest` (issue 18): one hour of an organization trail as CloudTrail writes
it to S3 (gzip log files under AWSLogs/<org>/<account>/CloudTrail/<region>/,
a file per path every five minutes), with management events weighted as
they usually are: most of them a few read-only calls, many made by AWS
services for the customer.

    python3 benches/make_org_trail.py OUT_DIR [ACCOUNTS] [REGIONS] [RECORDS_PER_FILE]

Weights (share of records): KMS Decrypt and GenerateDataKey invoked by S3
or DynamoDB 34%; STS AssumeRole by services (Lambda, EC2) 14%; monitoring
polls (Describe*, Get*, List* by a monitoring role) 30%; other reads 4%;
writes 9%; read-only calls that failed (AccessDenied, throttling) 3%;
reads by a role of another account 2%; service events without readOnly 2%;
console sign-ins 1%; Root 1%. Seeded: the same files on every run.
"""
import gzip
import json
import os
import random
import sys
import uuid

ORG = "o-sample0001"
SECURITY = "999999999999"


def identity(account, kind="AssumedRole", role="app", invoked_by=None, other=None):
    acct = other or account
    if kind == "AWSService":
        return {"type": "AWSService", "invokedBy": invoked_by}
    if kind == "Root":
        return {"type": "Root", "principalId": acct, "arn": f"arn:aws:iam::{acct}:root", "accountId": acct}
    out = {"type": kind, "principalId": f"AROA{acct}:{role}", "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/session",
           "accountId": acct, "accessKeyId": "ASIA0000000000000000",
           "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{acct}:role/{role}",
                                                "accountId": acct, "userName": role},
                              "attributes": {"creationDate": "2026-12-01T00:00:00Z", "mfaAuthenticated": "false"}}}
    if invoked_by:
        out["invokedBy"] = invoked_by
    return out


def record(rng, account, region, minute, second):
    r = rng.random()
    base = {"eventVersion": "1.09", "eventTime": f"2026-12-01T00:{minute:02d}:{second:02d}Z",
            "awsRegion": region, "sourceIPAddress": "10.0.0.1", "userAgent": "aws-sdk",
            "requestID": str(uuid.UUID(int=rng.getrandbits(128))), "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
            "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": account,
            "eventCategory": "Management"}
    key = f"arn:aws:kms:{region}:{account}:key/{uuid.UUID(int=rng.getrandbits(128))}"

    def call(source, name, read_only, who, params=None, **extra):
        out = dict(base, eventSource=source, eventName=name, userIdentity=who, requestParameters=params,
                   responseElements=None, **extra)
        if read_only is not None:
            out["readOnly"] = read_only
        if who.get("invokedBy") or who.get("type") == "AWSService":
            out["sourceIPAddress"] = who.get("invokedBy")
        return out

    if r < 0.34:
        service = rng.choice(["s3.amazonaws.com", "dynamodb.amazonaws.com"])
        name = rng.choice(["Decrypt", "Decrypt", "GenerateDataKey"])
        return call("kms.amazonaws.com", name, True, identity(account, invoked_by=service),
                    {"encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::bucket-{account}/object"},
                     "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                    resources=[{"accountId": account, "type": "AWS::KMS::Key", "ARN": key}])
    if r < 0.48:
        service = rng.choice(["lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com"])
        return call("sts.amazonaws.com", "AssumeRole", True, identity(account, "AWSService", invoked_by=service),
                    {"roleArn": f"arn:aws:iam::{account}:role/service-role", "roleSessionName": "svc"})
    if r < 0.78:
        source, name = rng.choice([
            ("ec2.amazonaws.com", "DescribeInstances"), ("ec2.amazonaws.com", "DescribeSecurityGroups"),
            ("monitoring.amazonaws.com", "GetMetricData"), ("monitoring.amazonaws.com", "DescribeAlarms"),
            ("config.amazonaws.com", "DescribeConfigRules"), ("s3.amazonaws.com", "ListBuckets"),
            ("iam.amazonaws.com", "GetRole"), ("iam.amazonaws.com", "ListRoles"),
            ("logs.amazonaws.com", "DescribeLogGroups"), ("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers")])
        return call(source, name, True, identity(account, role="monitoring"), {"maxResults": 100})
    if r < 0.82:
        source, name = rng.choice([("ssm.amazonaws.com", "GetParameter"), ("secretsmanager.amazonaws.com", "GetSecretValue"),
                                   ("lambda.amazonaws.com", "GetFunction")])
        return call(source, name, True, identity(account), {"name": "/app/config"})
    if r < 0.91:
        source, name = rng.choice([("ec2.amazonaws.com", "RunInstances"), ("iam.amazonaws.com", "CreateRole"),
                                   ("s3.amazonaws.com", "PutBucketPolicy"), ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2"),
                                   ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"), ("kms.amazonaws.com", "CreateGrant")])
        return call(source, name, False, identity(account, role="deployer"), {"detail": "x" * rng.randint(200, 3000)})
    if r < 0.94:
        source, name = rng.choice([("ec2.amazonaws.com", "DescribeInstances"), ("kms.amazonaws.com", "Decrypt"),
                                   ("iam.amazonaws.com", "GetRole")])
        return call(source, name, True, identity(account, role="monitoring"), None,
                    errorCode=rng.choice(["AccessDenied", "ThrottlingException"]), errorMessage="denied or throttled")
    if r < 0.96:
        return call("ec2.amazonaws.com", "DescribeInstances", True, identity(account, role="auditor", other=SECURITY), None)
    if r < 0.98:
        out = call("kms.amazonaws.com", "RotateKey", None, identity(account, "AWSService", invoked_by="kms.amazonaws.com"))
        out["eventType"] = "AwsServiceEvent"
        return out
    if r < 0.99:
        out = call("signin.amazonaws.com", "ConsoleLogin", False, identity(account, "IAMUser", role="alice"), None,
                   additionalEventData={"MFAUsed": rng.choice(["Yes", "No"])})
        out["eventType"] = "AwsConsoleSignIn"
        out["responseElements"] = {"ConsoleLogin": "Success"}
        return out
    return call("s3.amazonaws.com", "ListBuckets", True, identity(account, "Root"), None)


def main():
    out = sys.argv[1]
    accounts = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    regions = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"][: int(sys.argv[3]) if len(sys.argv) > 3 else 2]
    per_file = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    rng = random.Random(19)
    files = records = 0
    for a in range(accounts):
        account = f"{100000000000 + a * 1111:012d}"
        for region in regions:
            folder = os.path.join(out, "AWSLogs", ORG, account, "CloudTrail", region, "2026", "12", "01")
            os.makedirs(folder, exist_ok=True)
            for slot in range(12):
                minute = slot * 5
                batch = [record(rng, account, region, minute + rng.randint(0, 4), rng.randint(0, 59)) for _ in range(per_file)]
                name = f"{account}_CloudTrail_{region}_20261201T00{minute:02d}Z_{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}.json.gz"
                with gzip.open(os.path.join(folder, name), "wt") as f:
                    json.dump({"Records": batch}, f)
                files += 1
                records += len(batch)
    print(f"{files} files, {records} records under {out}")


if __name__ == "__main__":
    main()
