"""The member forward rule with an exclusion, under moto: the excluded calls
do not reach the ingest bus and everything else does (issue 18). Only moto
runs here: what reaches the ingest bus is read from a queue a catch-all rule
there fills."""
import json
import tempfile
import time
import uuid

import pytest

from localaws import SECURITY_ACCOUNT, Member, MemberRoles, Moto

MEMBER_ACCOUNT = "222233334444"
OTHER_ACCOUNT = "555566667777"
EXCLUSION = {"ForwardExcludedEventSources": "kms.amazonaws.com,s3.amazonaws.com",
             "ForwardExcludedEventNames": "Decrypt,GenerateDataKey,GetObject"}


@pytest.fixture(scope="module")
def moto():
    with tempfile.TemporaryDirectory() as logs:
        m = Moto(logs)
        try:
            yield m
        finally:
            m.stop()


@pytest.fixture(scope="module")
def ingest(moto):
    """An ingest bus whose every event lands in a queue."""
    events, sqs = moto.client("events"), moto.client("sqs")
    bus = events.create_event_bus(Name="trailrelay-ingest")["EventBusArn"]
    url = sqs.create_queue(QueueName="ingest-seen")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="everything", EventBusName="trailrelay-ingest",
                    EventPattern=json.dumps({"source": [{"prefix": ""}]}))
    events.put_targets(Rule="everything", EventBusName="trailrelay-ingest", Targets=[{"Id": "q", "Arn": arn}])
    return bus, sqs, url


def record(name, source="kms.amazonaws.com", read_only=True, **extra):
    r = {"eventVersion": "1.09", "eventSource": source, "eventName": name, "eventID": str(uuid.uuid4()),
         "awsRegion": "us-east-1", "recipientAccountId": MEMBER_ACCOUNT, "eventType": "AwsApiCall",
         "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}}
    if read_only is not None:
        r["readOnly"] = read_only
    r.update(extra)
    return r


def test_the_excluded_calls_stay_behind_and_everything_else_reaches_the_ingest_bus(moto, ingest):
    bus, sqs, url = ingest
    MemberRoles(moto, MEMBER_ACCOUNT, bus)
    member = Member(moto, MEMBER_ACCOUNT, bus, parameters=EXCLUSION)
    excluded = [record("Decrypt"), record("GenerateDataKey"),
                record("GetObject", source="s3.amazonaws.com",
                       userIdentity={"type": "AssumedRole", "accountId": MEMBER_ACCOUNT})]
    kept = [
        record("Decrypt", errorCode="AccessDenied"),
        record("Decrypt", read_only=None),
        record("Decrypt", read_only=False),
        record("Decrypt", userIdentity={"type": "AssumedRole", "accountId": OTHER_ACCOUNT}),
        record("Decrypt", userIdentity={"type": "Root", "accountId": MEMBER_ACCOUNT}),
        record("DescribeInstances", source="ec2.amazonaws.com"),
        record("Encrypt"),
        record("PutKeyPolicy", read_only=False),
    ]
    entries = [{"Source": "aws." + r["eventSource"].split(".")[0], "DetailType": "AWS API Call via CloudTrail",
                "Detail": json.dumps(r)} for r in excluded + kept]
    for i in range(0, len(entries), 10):
        assert member.events.put_events(Entries=entries[i:i + 10])["FailedEntryCount"] == 0
    seen = set()
    deadline = time.time() + 20
    while time.time() < deadline and len(seen) < len(kept):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            seen.add(json.loads(m["Body"])["detail"]["eventID"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    time.sleep(1)
    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        seen.add(json.loads(m["Body"])["detail"]["eventID"])
    assert seen == {r["eventID"] for r in kept}, (
        f"missing: {[r['eventName'] for r in kept if r['eventID'] not in seen]}, "
        f"leaked: {[r['eventName'] for r in excluded if r['eventID'] in seen]}")


def test_volumes_and_filter_suggest_read_a_trail_and_the_enriched_copy_in_s3(moto):
    """The same reports from S3 as from files: a log-archive bucket's trail
    (gzip log files) and the copy's gzip JSON Lines of delivered events."""
    import gzip
    import os
    import subprocess

    from localaws import ROOT

    s3 = moto.client("s3")
    s3.create_bucket(Bucket="org-trail")
    s3.create_bucket(Bucket="relay-copy")
    plain = [record("Decrypt") for _ in range(40)]
    kept = [record("Decrypt", errorCode="AccessDenied") for _ in range(5)] + [record("CreateKey", read_only=False)] * 5
    trail_key = f"AWSLogs/o-1/{MEMBER_ACCOUNT}/CloudTrail/us-east-1/2026/12/01/{MEMBER_ACCOUNT}_CloudTrail_us-east-1_20261201T0005Z_a.json.gz"
    s3.put_object(Bucket="org-trail", Key=trail_key, Body=gzip.compress(json.dumps({"Records": plain + kept}).encode()))
    delivered = "\n".join(json.dumps({"version": "0", "source": "trailrelay", "detail-type": "AWS API Call via CloudTrail",
                                      "account": SECURITY_ACCOUNT, "region": "us-east-1",
                                      "detail": dict(r, enrichment={"category": "data"})}) for r in plain + kept)
    s3.put_object(Bucket="relay-copy", Key="enriched/category=data/hour=2026-12-01-00/part-1.gz",
                  Body=gzip.compress(delivered.encode()))
    env = dict(os.environ, AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    binary = os.path.join(ROOT, "target", "debug", "trailrelay")
    for source in ("s3://org-trail/AWSLogs/", "s3://relay-copy/enriched/"):
        volumes = subprocess.run([binary, "volumes", source, "--json"], env=env, capture_output=True, text=True)
        assert volumes.returncode == 0, volumes.stderr
        report = json.loads(volumes.stdout)
        assert report["total"]["count"] == 50, source
        assert report["rows"][0]["eventName"] == "Decrypt", source
        assert report["rows"][0]["account"] == MEMBER_ACCOUNT, source
        suggested = subprocess.run([binary, "filter", "suggest", source, "--saving", "50%", "--json"],
                                   env=env, capture_output=True, text=True)
        assert suggested.returncode == 0, suggested.stderr + suggested.stdout
        s = json.loads(suggested.stdout)
        assert s["excluded"]["count"] == 40, source
        assert s["proofViolations"] == [], source
        assert s["parameters"]["ForwardExcludedEventNames"] == "Decrypt"
