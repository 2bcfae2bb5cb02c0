#!/usr/bin/env python3
"""A straightforward Python relay, for comparison with `trailrelay route`:
json.loads each line, classify with dict rules, look the accounts up, add an
`enrichment` dict, json.dumps the detail and the entry. It does the same job
in the obvious way, without the Rust path's care (no trimming, fewer
signals), so it flatters Python, if anything.

    python3 benches/reference.py EVENTS.jsonl > /dev/null
"""
import json
import sys
from datetime import datetime, timezone

SERVICE_CATEGORY = {}
for category, services in {
    "identity": "iam sts signin sso sso-directory identitystore cognito-idp cognito-identity access-analyzer rolesanywhere",
    "network": "elasticloadbalancing wafv2 waf shield network-firewall route53 route53resolver route53domains cloudfront apigateway globalaccelerator directconnect",
    "data": "s3 kms secretsmanager rds dynamodb redshift elasticache es backup glacier elasticfilesystem fsx dms athena glue lakeformation",
    "compute": "ec2 ec2-instance-connect lambda ecs eks ecr batch autoscaling elasticbeanstalk lightsail codebuild ssm ssmmessages ec2messages sagemaker bedrock",
    "audit": "cloudtrail config guardduty securityhub inspector2 macie2 detective logs monitoring events",
    "governance": "organizations account billing billingconsole ce budgets ram servicecatalog controltower license-manager support health",
}.items():
    for service in services.split():
        SERVICE_CATEGORY[service] = category

EC2_NETWORK = ("SecurityGroup", "Vpc", "Subnet", "Route", "NetworkAcl", "Gateway", "Vpn", "Address", "NetworkInterface")
EC2_DATA = ("Snapshot", "Volume", "EbsEncryption")


def classify(service, name):
    if service == "ec2":
        if name == "DeleteFlowLogs":
            return "audit"
        if any(p in name for p in EC2_NETWORK):
            return "network"
        if any(p in name for p in EC2_DATA):
            return "data"
    if service == "ssm" and name.startswith(("GetParameter", "PutParameter", "DeleteParameter", "DescribeParameters")):
        return "data"
    if service == "s3" and name == "PutBucketLogging":
        return "audit"
    return SERVICE_CATEGORY.get(service, "other")


def account(directory, account_id):
    info = directory.get(account_id)
    if info is None:
        return {"id": account_id, "known": False, "tags": {}}
    return {"id": account_id, "name": info.get("name"), "email": info.get("email"), "status": info.get("status"),
            "ouPath": info.get("ouPath"), "tags": info.get("tags", {}),
            "environment": info.get("environment") or info.get("tags", {}).get("Environment"), "known": True}


def main():
    with open("config/accounts.json") as f:
        directory = json.load(f)["accounts"]
    received = datetime.now(timezone.utc).isoformat()
    out = sys.stdout
    with open(sys.argv[1]) as f:
        for line in f:
            event = json.loads(line)
            detail = event["detail"]
            identity = detail.get("userIdentity") or {}
            service = (detail.get("eventSource") or "").replace(".amazonaws.com", "")
            category = classify(service, detail.get("eventName") or "")
            event_account = detail.get("recipientAccountId") or event.get("account")
            actor_account = identity.get("accountId")
            signals = []
            if identity.get("type") == "Root":
                signals.append("root_activity")
            if (detail.get("errorCode") or "").endswith("AccessDenied"):
                signals.append("access_denied")
            if actor_account and actor_account != event_account:
                signals.append("cross_account_actor")
            detail["enrichment"] = {
                "schemaVersion": "1.1", "category": category,
                "account": account(directory, event_account),
                "actor": {"type": identity.get("type", "Unknown"), "arn": identity.get("arn"),
                          "accountId": actor_account,
                          "account": account(directory, actor_account) if actor_account else None},
                "signals": sorted(signals),
                "provenance": {"eventId": detail.get("eventID"), "envelopeId": event.get("id"),
                               "receivedAt": received, "relay": "reference"},
            }
            entry = {"EventBusName": f"trailrelay-{category}", "Source": "trailrelay",
                     "DetailType": event["detail-type"], "Detail": json.dumps(detail),
                     "Time": event["time"], "Resources": event.get("resources", [])}
            out.write(json.dumps(entry))
            out.write("\n")


if __name__ == "__main__":
    main()
