"""End to end on one machine: moto for AWS, cargo lambda watch for Lambda,
the topology read from the templates. See localaws.py and pipeline.py."""
import gzip
import json
import os
import re
import signal
import subprocess
import time

import pytest

from localaws import (ROOT as ROOT_DIR, PRINCIPAL_OF_KEY, SECURITY_ACCOUNT, Consumer, Template, expected, fixtures,
                      recorded_calls, sqs_batch)
from pipeline import fixture_id, invoke_batches, local_pipeline, run_samples

# moto leaves the envelope's `account` out of the events it delivers, so the
# enricher cannot compare it with the record's recipientAccountId there.
NOT_EMULATED = {"account_mismatch"}


@pytest.fixture(scope="module")
def local():
    with local_pipeline(say=lambda *_: None) as running:
        yield running


@pytest.fixture(scope="module")
def samples(local):
    return run_samples(local)


def arrived_by_fixture(arrivals, local):
    out = {}
    for category, events in arrivals.items():
        for event in events:
            out.setdefault(fixture_id(event, local), []).append((category, event))
    return out


def test_every_sample_event_arrives_once_on_its_bus(local, samples):
    assert samples["failed"] == []
    arrived = arrived_by_fixture(samples["arrivals"], local)
    want = expected()["entries"]
    for fid, e in want.items():
        got = arrived.get(fid, [])
        assert len(got) == 1, f"{fid}: arrived {len(got)} times: {[c for c, _ in got]}"
        category, event = got[0]
        assert category == e["category"], fid
        enrichment = event["detail"]["enrichment"]
        assert enrichment["category"] == e["category"], fid
        assert enrichment["ruleId"] == e["rule"], fid
        assert enrichment["signals"] == [s for s in e["signals"] if s not in NOT_EMULATED], fid
        assert event["source"] == "trailrelay", fid
    # Beyond the expectations: the line that is not JSON and the bare record.
    extra = sorted(set(arrived) - set(want))
    assert len(extra) == 2 and all(x.startswith("line-") for x in extra), extra


def test_the_record_arrives_unchanged(local, samples):
    originals = {e["id"]: e["detail"] for _, e in local.fixtures() if e and isinstance(e.get("detail"), dict)}
    checked = 0
    for category, events in samples["arrivals"].items():
        for event in events:
            fid = fixture_id(event, local)
            if fid in originals:
                detail = dict(event["detail"])
                detail.pop("enrichment")
                assert detail == originals[fid], fid
                checked += 1
    assert checked == len(expected()["entries"]) - 2  # all but the two malformed envelopes


def test_the_malformed_body_goes_to_other_with_the_rest_delivered(samples):
    other = samples["arrivals"]["other"]
    malformed = [e for e in other if "malformed_input" in e["detail"]["enrichment"]["signals"]]
    raw = {e["detail"]["rawInput"] for e in malformed}
    assert any(r.startswith("this line is not JSON") for r in raw)
    assert len(malformed) == 3
    delivered = sum(len(v) for v in samples["arrivals"].values())
    assert delivered == len(expected()["entries"]) + 2  # and the not-JSON line, the bare record


def test_a_test_event_arrives_with_test_event(local, samples):
    [(category, event)] = arrived_by_fixture(samples["arrivals"], local)["fx-test-event"]
    assert category == "identity"
    assert event["detail-type"] == "trailrelay Test Event"
    assert "test_event" in event["detail"]["enrichment"]["signals"]


def test_an_unknown_account_arrives_marked_unknown(local, samples):
    [(_, event)] = arrived_by_fixture(samples["arrivals"], local)["fx-unknown-account"]
    account = event["detail"]["enrichment"]["account"]
    assert account["id"] == "999999999999" and account["known"] is False
    assert "unknown_account" in event["detail"]["enrichment"]["signals"]


def test_the_ingest_rule_ignores_our_own_source(local, samples):
    # run_samples put the relay's own event on the ingest bus: the rule did not take it.
    assert not any('"source": "trailrelay"' in body or '"source":"trailrelay"' in body
                   for body in samples["matched"])
    own = next(e for _, e in local.fixtures() if e and e.get("id") == "fx-own-output")
    local.relay.put_events([own])
    time.sleep(0.3)
    assert local.relay.drain(local.relay.buffer_url) == []
    # And handed to the enricher anyway, it is refused, not re-emitted.
    response, error = local.function.invoke(own)
    assert error is None, error
    assert response["outcome"] == "refused"
    assert all(v == [] for v in local.relay.arrivals().values())


def test_direct_mode_one_event_through_cargo_lambda_invoke(local, samples):
    event = next(e for _, e in local.fixtures() if e and e.get("id") == "fx-cloudtrail-stop-logging")
    response, error = local.function.invoke(event)
    assert error is None, error
    assert response == {"outcome": "delivered", "eventId": "evt-cloudtrail-stop-logging"}
    time.sleep(0.3)
    arrivals = local.relay.arrivals()
    assert [e["detail"]["eventName"] for e in arrivals["audit"]] == ["StopLogging"]
    assert sum(len(v) for v in arrivals.values()) == 1


def test_a_heartbeat_is_consumed_not_relayed(local, samples):
    heartbeat = next(e for _, e in local.fixtures() if e and e.get("id") == "fx-heartbeat")
    response, error = local.function.invoke(sqs_batch([("hb", json.dumps(heartbeat))]))
    assert error is None, error
    assert response["batchItemFailures"] == []
    time.sleep(0.3)
    assert all(v == [] for v in local.relay.arrivals().values())


def test_a_message_that_cannot_be_delivered_is_reported_alone(local, samples):
    # Take the governance bus away: PutEvents to it fails (moto fails the
    # whole call with ResourceNotFoundException, a permanent error), so the
    # enricher must name that message, and only that one, as failed.
    events, name = local.relay.events, "trailrelay-governance"
    events.remove_targets(Rule="consumer", EventBusName=name, Ids=["queue"])
    events.delete_rule(Name="consumer", EventBusName=name)
    events.delete_event_bus(Name=name)
    try:
        doomed = next(e for _, e in local.fixtures() if e and e.get("id") == "fx-organizations-leave")
        fine = next(e for _, e in local.fixtures() if e and e.get("id") == "fx-ec2-run-instances")
        batch = sqs_batch([("doomed", json.dumps(doomed))])
        response, error = local.function.invoke(batch)
        assert error is None, error
        assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["doomed"]
        response, error = local.function.invoke(sqs_batch([("fine", json.dumps(fine))]))
        assert error is None and response["batchItemFailures"] == []
        # Direct mode: the invocation fails, so Lambda would retry it.
        response, error = local.function.invoke(doomed)
        assert response is None and "NotDelivered" in error, error
    finally:
        local.relay.restore_category_bus("governance")
    time.sleep(0.3)
    arrivals = local.relay.arrivals()
    assert [e["detail"]["eventName"] for e in arrivals["compute"]] == ["RunInstances"]
    assert arrivals["governance"] == []


# --- the account directory from Organizations (these run last, in this order) ---

def enrichment_of(local, fixture, category):
    """Sends one sample event through the pipeline and returns its enrichment."""
    event = next(e for _, e in local.fixtures() if e and e.get("id") == fixture)
    response, error = local.function.invoke(sqs_batch([("one", json.dumps(event))]))
    assert error is None and response["batchItemFailures"] == [], (response, error)
    time.sleep(0.3)
    [arrived] = local.relay.arrivals()[category]
    return arrived["detail"]["enrichment"]


def refresh(local):
    """Lets the enricher's refresh interval pass and starts a refresh."""
    time.sleep(local.relay.DIRECTORY_REFRESH_SECONDS + 0.2)
    local.function.invoke(next(e for _, e in local.fixtures() if e and e.get("id") == "fx-heartbeat"))
    time.sleep(0.5)


def test_accounts_come_from_organizations(local, samples):
    prod_id = local.organization.ids["333333333333"]
    e = enrichment_of(local, "fx-iam-create-user", "identity")
    assert e["account"]["id"] == prod_id != "333333333333"
    assert e["account"]["known"] is True
    assert e["account"]["name"] == "payments-prod"
    assert e["account"]["ouPath"] == "Root/Workloads/Prod"
    assert e["account"]["environment"] == "prod", "from the OU name"
    assert e["account"]["tags"] == {"Owner": "payments", "CostCenter": "cc-4711"}
    assert "directory_stale" not in e["signals"]


def test_the_snapshot_in_s3_is_the_organization(local, samples):
    bucket = local.relay.directory_bucket
    keys = [o["Key"] for o in local.relay.s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "latest.json" in keys
    assert any(k.startswith("snapshots/") and k.endswith(".json") for k in keys)
    doc = json.loads(local.relay.s3.get_object(Bucket=bucket, Key="latest.json")["Body"].read())
    assert doc["formatVersion"] == 1 and doc["generatedAt"]
    ids = local.organization.ids
    assert set(doc["accounts"]) == set(ids.values())
    dev = doc["accounts"][ids["444444444444"]]
    assert dev["name"] == "payments-dev" and dev["ouPath"] == "Root/Workloads/Dev"
    assert dev["tags"] == {"Owner": "payments", "Environment": "dev"} and dev["environment"] == "dev"
    assert dev["status"] == "ACTIVE" and dev["state"] == "ACTIVE"
    # The path of ids, as aws:PrincipalOrgPaths gives it: organization, root, Workloads, Dev.
    org = local.moto.client("organizations").describe_organization()["Organization"]["Id"]
    root = local.moto.client("organizations").list_roots()["Roots"][0]["Id"]
    assert dev["orgPath"].startswith(f"{org}/{root}/ou-") and dev["orgPath"].count("/") == 4, dev["orgPath"]
    sandbox = doc["accounts"][ids["555555555555"]]
    assert sandbox["tags"] == {} and sandbox["environment"] == "sandbox", "untagged: from the OU name"


def test_a_move_and_a_tag_reach_the_enricher_after_a_sync_and_the_refresh_interval(local, samples):
    dev_id, prod_id = local.organization.ids["444444444444"], local.organization.ids["333333333333"]
    before = enrichment_of(local, "fx-ec2-run-instances", "compute")
    assert before["account"]["ouPath"] == "Root/Workloads/Dev"
    local.organization.move(dev_id, ("Staging",))
    local.organization.client.tag_resource(ResourceId=prod_id, Tags=[{"Key": "Team", "Value": "red"}])
    local.sync_directory()
    refresh(local)
    moved = enrichment_of(local, "fx-ec2-run-instances", "compute")
    assert moved["account"]["ouPath"] == "Root/Staging"
    assert moved["account"]["environment"] == "dev", "the Environment tag still wins over the OU"
    tagged = enrichment_of(local, "fx-iam-create-user", "identity")
    assert tagged["account"]["tags"]["Team"] == "red"


def copied_events(local, keys):
    """The enriched copy's objects, read back: (category partition, event) pairs."""
    bucket = local.relay.template.name_of("EnrichedCopyBucket")
    out = []
    for key in keys:
        partition = re.match(r"enriched/category=(\w+)/hour=\d{4}-\d{2}-\d{2}-\d{2}/[^/]+\.gz$", key)
        assert partition, key
        body = gzip.decompress(local.relay.s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()
        assert body.endswith("\n"), "one event per line, the last one too"
        out += [(partition.group(1), json.loads(line)) for line in body.splitlines()]
    return out


def test_the_enriched_copy_holds_each_delivered_event_once_under_its_category_and_reconciles_with_the_trail(
        local, samples, tmp_path):
    keys = local.relay.write_enriched_copy()
    copied = copied_events(local, keys)
    for category, event in copied:
        assert event["detail"]["enrichment"]["category"] == category
    ids = [e["id"] for _, e in copied]
    assert len(ids) == len(set(ids)), "no event copied twice"
    for category, events in samples["arrivals"].items():
        for event in events:
            assert (category, event["id"]) in {(c, e["id"]) for c, e in copied}, (category, event["id"])
    # The trail holds every delivered record and three it never delivered:
    # reconciled against the copy, exactly those three are missing.
    delivered = [e["detail"] for _, e in copied if e["detail"].get("eventID")]
    for record in delivered:
        record.pop("enrichment", None)
    never = []
    for i, record in enumerate(delivered[:3]):
        never.append(dict(record, eventID=f"never-delivered-{i}"))
    folder = tmp_path / "trail" / "AWSLogs" / "o-exampleorgid" / "111122223333" / "CloudTrail" / "us-east-1" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    with gzip.open(folder / "111122223333_CloudTrail_us-east-1_20261120T1200Z_a.json.gz", "wt") as f:
        json.dump({"Records": delivered + never}, f)
    copy = tmp_path / "copy"
    copy.mkdir()
    bucket = local.relay.template.name_of("EnrichedCopyBucket")
    for n, key in enumerate(keys):
        (copy / f"{n}.jsonl.gz").write_bytes(local.relay.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    done = subprocess.run([os.path.join(ROOT_DIR, "target", "debug", "trailrelay"), "reconcile",
                           "--trail", str(tmp_path / "trail"), "--seen", str(copy), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    missing = [json.loads(line)["detail"]["eventID"] for line in done.stdout.splitlines()]
    assert sorted(missing) == [f"never-delivered-{i}" for i in range(len(never))]
    totals = json.loads(done.stderr)["totals"]
    assert totals["missing"] == len(never) and totals["seen"] == totals["expected"] - len(never) > 0
    # The same with both sides in S3: the trail as CloudTrail writes it to a
    # log-archive bucket, the copy where Firehose wrote it.
    trail_bucket = "org-trail-log-archive"
    local.relay.s3.create_bucket(Bucket=trail_bucket)
    for path in (tmp_path / "trail").rglob("*.json.gz"):
        key = "org/" + str(path.relative_to(tmp_path / "trail"))
        local.relay.s3.put_object(Bucket=trail_bucket, Key=key, Body=path.read_bytes())
    from_s3 = subprocess.run([os.path.join(ROOT_DIR, "target", "debug", "trailrelay"), "reconcile",
                              "--trail", f"s3://{trail_bucket}/org/AWSLogs/", "--seen", f"s3://{bucket}/enriched/",
                              "--json"], capture_output=True, text=True, timeout=120, env=cli_env(local))
    assert from_s3.returncode == 0, from_s3.stderr
    assert from_s3.stdout == done.stdout
    assert json.loads(from_s3.stderr)["totals"] == totals


def test_backfilled_records_reach_the_category_buses_marked_and_never_as_aws_sources_on_putevents(local, samples):
    # The last whole hour (UTC), so that what the relay delivers now counts
    # as on time (before the window's first pass). One enrolled path's
    # member sends five calls of the window through the pipeline; the
    # trail's file for the path holds them, three EventBridge never
    # delivered, one from before the window and one from a region not
    # enrolled.
    now = int(time.time())
    start = now - now % 3600 - 3600
    at = lambda seconds: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    account = local.organization.ids["333333333333"]
    region = local.regions[0]
    templates = {e["id"]: e for _, e in local.fixtures() if e and e.get("id") in ("fx-iam-create-user", "fx-ec2-run-instances")}

    def record(template, n, **more):
        return {**templates[template]["detail"], "eventID": f"00000000-0000-4000-8000-{n:012d}",
                "eventTime": at(start + 600 + n), "recipientAccountId": account, "awsRegion": region, **more}

    seen = [record(("fx-iam-create-user", "fx-ec2-run-instances")[n % 2], n) for n in range(5)]
    never = [record("fx-iam-create-user", 100 + n) for n in range(3)]
    before = record("fx-iam-create-user", 200, eventTime=at(start - 1800))
    elsewhere = record("fx-iam-create-user", 300, awsRegion="ap-south-1")
    events = [dict(templates[("fx-iam-create-user", "fx-ec2-run-instances")[n % 2]], detail=r) for n, r in enumerate(seen)]
    assert local.relay.put_events(events, bus="default", client=local.member(account, region).events) == 0
    assert local.relay_buffer() == []
    time.sleep(0.5)
    local.relay.write_enriched_copy()
    local.relay.write_trail(account, region, seen + never + [before, elsewhere], time.gmtime(start + 900))
    local.relay.arrivals()

    first = local.reconcile("first", at(start))
    totals = first["totals"]
    assert (totals["expected"], totals["seen"], totals["missing"]) == (len(seen) + 3, len(seen), 3), first
    assert first["putBack"] == {"mode": "queue", "sent": 3, "failed": 0}
    time.sleep(0.5)
    reports = [e for e in local.relay.arrivals()["audit"] if e["detail-type"] == "trailrelay Reconciliation Report"]
    [report] = reports
    assert report["source"] == "trailrelay"
    detail = report["detail"]
    assert (detail["pass"], detail["window"]["from"], detail["parts"]) == ("first", at(start), 1)
    [path] = detail["paths"]
    assert (path["account"], path["region"], path["missing"], path["seen"]) == (account, region, 3, len(seen))

    # The put-back waits on the buffer queue, marked; through the enricher
    # it reaches the category bus of each record, marked too, with the
    # relay's own source (PutEvents refuses an aws. one).
    assert local.relay_buffer() == []
    time.sleep(0.5)
    never_ids = {r["eventID"] for r in never}
    arrived = [e for events in local.relay.arrivals().values() for e in events
               if e["detail"].get("eventID") in never_ids]
    assert sorted(e["detail"]["eventID"] for e in arrived) == sorted(never_ids)
    for event in arrived:
        assert event["source"] == "trailrelay" and not event["source"].startswith("aws.")
        enrichment = event["detail"]["enrichment"]
        assert enrichment["provenance"]["backfilled"] is True
        assert "late_delivery" in enrichment["signals"]
        assert enrichment["provenance"]["source"] == "aws.iam", "the original source, in provenance only"
        detail = dict(event["detail"])
        detail.pop("enrichment")
        assert detail == next(r for r in never if r["eventID"] == event["detail"]["eventID"]), "the record unchanged"

    # The second pass sees them, as put back; nothing is missing any more.
    local.relay.write_enriched_copy()
    second = local.reconcile("second", at(start))
    totals = second["totals"]
    assert (totals["expected"], totals["missing"], totals["backfilled"], totals["late"]) == (len(seen) + 3, 0, 3, 0)
    assert second["putBack"]["sent"] == 0
    local.relay.arrivals()


def directory_object(local):
    """The directory as it stands, to be put back by a test that changes it
    (the path check and the reconciler after it read every account it holds)."""
    return local.relay.s3.get_object(Bucket=local.relay.directory_bucket, Key="latest.json")["Body"].read()


def put_back_directory(local, body):
    local.relay.s3.put_object(Bucket=local.relay.directory_bucket, Key="latest.json", Body=body)
    refresh(local)


def test_a_thousand_account_organization_syncs_with_its_calls_counted(local, samples):
    before = directory_object(local)
    try:
        thousand_accounts_sync(local)
    finally:
        # The organization keeps its thousand accounts; the directory goes
        # back to the sample's, so that later tests' path checks and
        # reconciliations read five accounts, not a thousand.
        put_back_directory(local, before)


def thousand_accounts_sync(local):
    org = local.organization
    started = time.time()
    paths = [("Workloads", "Prod"), ("Workloads", "Dev"), ("Sandbox",), ("Fleet", "Team-A"), ("Fleet", "Team-B")]
    existing = len(org.client.list_accounts()["Accounts"])
    for i in range(1000 - existing):
        tags = {"Environment": "prod"} if i % 3 == 0 else None
        org.add_account(f"fleet-{i:04d}", f"fleet-{i:04d}@example.com", paths[i % len(paths)], tags)
    created = time.time() - started
    started = time.time()
    result = local.sync_directory()
    took = time.time() - started
    report, calls = result["report"], result["calls"]
    assert report["accounts"] == 1000
    assert report["accountsWithErrors"] == 0
    # Top down: one ListTagsForResource per account, the rest per OU and page.
    assert calls["ListTagsForResource"] == 1000
    assert calls["ListAccountsForParent"] >= report["organizationalUnits"] + 1
    figures = {"accounts": report["accounts"], "ous": report["organizationalUnits"], "calls": calls,
               "total_calls": sum(calls.values()), "sync_seconds": round(took, 2),
               "create_seconds": round(created, 2), "snapshot_bytes": report["bytes"]}
    with open(os.path.join(local.log_dir, "sync-1000.json"), "w") as f:
        json.dump(figures, f, indent=2)
    print(json.dumps(figures))
    # The enricher takes the larger directory in its stride.
    refresh(local)
    e = enrichment_of(local, "fx-iam-create-user", "identity")
    assert e["account"]["name"] == "payments-prod"


def test_events_still_flow_with_directory_stale_when_the_directory_cannot_be_read(local, samples):
    before = directory_object(local)
    local.relay.s3.delete_object(Bucket=local.relay.directory_bucket, Key="latest.json")
    try:
        time.sleep(local.relay.DIRECTORY_MAX_AGE_SECONDS + 0.5)
        refresh(local)
        e = enrichment_of(local, "fx-iam-create-user", "identity")
        assert "directory_stale" in e["signals"]
        assert e["account"]["name"] == "payments-prod", "the last good copy is kept"
    finally:
        # The tests after this one (the path check reads the directory) need it back.
        put_back_directory(local, before)


def cli_env(local):
    env = dict(os.environ)
    env.update({"AWS_ENDPOINT_URL": local.moto.url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"})
    return env


def nothing_left_behind(local):
    rules = local.relay.events.list_rules(EventBusName=local.relay.buses["IdentityBus"])["Rules"]
    assert not [r["Name"] for r in rules if r["Name"].startswith("trailrelay-test-")]
    assert local.relay.sqs.list_queues(QueueNamePrefix="trailrelay-test-").get("QueueUrls", []) == []


def test_send_test_event_proves_the_path_from_a_member_account_end_to_end(local, samples):
    account = local.organization.ids["333333333333"]
    local.member(account)  # its forward rule, as the member stack makes it
    local.relay.arrivals()
    cli = os.path.join(ROOT_DIR, "target", "debug", "trailrelay")
    proc = subprocess.Popen([cli, "send-test-event", "--member-role-arn",
                             f"arn:aws:iam::{account}:role/trailrelay-doctor", "--timeout", "90"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(local))
    # moto cannot invoke the enricher: hand it what the ingest rule queued, as Lambda would.
    deadline = time.time() + 180
    while proc.poll() is None and time.time() < deadline:
        local.relay_buffer()
        time.sleep(0.3)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert f"via {account} default bus -> trailrelay-forward -> trailrelay-ingest" in out
    assert "arrived on trailrelay-identity after" in out and "test_event" in out, out
    nothing_left_behind(local)
    local.relay.arrivals()


def test_send_test_event_cleans_up_when_interrupted(local, samples):
    cli = os.path.join(ROOT_DIR, "target", "debug", "trailrelay")
    proc = subprocess.Popen([cli, "send-test-event", "--timeout", "120"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(local))
    first = proc.stdout.readline()
    assert first.startswith("listening on trailrelay-identity"), first
    assert local.relay.sqs.list_queues(QueueNamePrefix="trailrelay-test-").get("QueueUrls"), "it made a queue"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert "interrupted" in out and "removed the temporary rule and queue" in out
    nothing_left_behind(local)
    local.relay.drain(local.relay.buffer_url)


def test_a_consumer_account_receives_its_signal_on_a_bus_of_its_own(local, samples):
    """consumer-account.yaml, as far as moto allows: the subscription rule on
    the identity bus targets the consumer's bus (the one cross-account target
    a rule made by another account may have), whose policy admits only the
    category buses' rules; its example rule takes root activity to a queue."""
    consumer = Consumer(local.moto, "444455556666")
    [statement] = consumer.bus_policy["Statement"]
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"][0] == \
        "arn:aws:events:us-east-1:123456789012:rule/trailrelay-identity/*"
    assert consumer.subscription["Targets"][0]["Arn"].startswith("arn:aws:events:us-east-1:444455556666:event-bus/")
    by_id = {parsed["id"]: line for line, parsed in local.fixtures() if isinstance(parsed, dict) and "id" in parsed}
    chosen = ["fx-root-console-login-without-mfa", "fx-iam-create-user"]
    assert invoke_batches(local, [by_id[i] for i in chosen]) == []
    time.sleep(0.3)
    received = consumer.received()
    assert [fixture_id(e, local) for e in received] == ["fx-root-console-login-without-mfa"]
    assert "root_activity" in received[0]["detail"]["enrichment"]["signals"]
    local.relay.arrivals()


def test_a_subscription_the_security_account_owns_delivers_to_another_account(local, samples):
    """security-subscription.yaml, as far as moto allows: moto delivers to
    an event bus in another account but not to a queue there, so the
    subscription's target is a consumer's bus (its policy admits the
    security account's category-bus rules), and the security-owned rule,
    with its execution role, filters on the signal."""
    consumer = Consumer(local.moto, "777788889999", category="audit")
    target = consumer.subscription["Targets"][0]["Arn"]
    t = Template("security-subscription.yaml", SECURITY_ACCOUNT,
                 {"SubscriptionName": "soc", "Category": "identity", "TargetArn": target, "Signal": "root_activity"})
    role = t.props("SubscriptionRole")
    local.moto.client("iam").create_role(RoleName=role["RoleName"],
                                         AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]))
    rule = t.props("SubscriptionRule")
    events = local.relay.events
    events.put_rule(Name=rule["Name"], EventBusName=rule["EventBusName"],
                    EventPattern=json.dumps(rule["EventPattern"]), State=rule["State"])
    events.put_targets(Rule=rule["Name"], EventBusName=rule["EventBusName"],
                       Targets=[{k: v for k, v in x.items() if k != "DeadLetterConfig"} for x in rule["Targets"]])
    try:
        by_id = {p["id"]: line for line, p in local.fixtures() if isinstance(p, dict) and "id" in p}
        assert invoke_batches(local, [by_id["fx-root-console-login-without-mfa"], by_id["fx-iam-create-user"]]) == []
        time.sleep(0.3)
        # The consumer's own example rule (root activity) takes it from its bus to its queue.
        assert [fixture_id(e, local) for e in consumer.received()] == ["fx-root-console-login-without-mfa"]
    finally:
        events.remove_targets(Rule=rule["Name"], EventBusName=rule["EventBusName"], Ids=["subscriber"])
        events.delete_rule(Name=rule["Name"], EventBusName=rule["EventBusName"])
        local.relay.arrivals()


def test_every_call_a_function_made_is_one_its_list_declares(local, samples):
    """The flow test judges the calls each function declares (AWS_CALLS,
    tests/iam/aws-calls.json); here moto's recording of what each function
    really called, by the access key it ran with, must be among them. A call
    made without being declared would never have been judged. It asks the
    reconciler and the path check once more, so it holds run on its own
    (the tests that change the directory put it back: the path check needs
    it, and with a thousand accounts the reconciler outran its local budget
    in CI)."""
    local.check_paths()
    local.reconcile("first", "2026-11-26T10:00:00Z")
    with open(os.path.join(ROOT_DIR, "tests", "iam", "aws-calls.json")) as f:
        declared = json.load(f)["principals"]
    made = recorded_calls(local.moto.recording, PRINCIPAL_OF_KEY)
    by_principal = {PRINCIPAL_OF_KEY[key]: calls for key, calls in made.items()}
    assert set(by_principal) == {"enricher", "account-sync", "path-check", "reconciler"}, sorted(made)
    for principal, calls in by_principal.items():
        undeclared = sorted(calls - set(declared[principal]))
        assert not undeclared, f"{principal} called {undeclared}, which its AWS_CALLS does not list"
    # What the relay's core path cannot do without, seen made.
    assert {"events:PutEvents", "s3:GetObject"} <= by_principal["enricher"]
    assert "s3:PutObject" in by_principal["account-sync"]
