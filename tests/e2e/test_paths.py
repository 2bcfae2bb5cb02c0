"""Path health end to end: member accounts in two regions send heartbeats
along their forwarding rules; the enricher records them; the path check
reports exactly the path whose rule was disabled, then its return, and
never a suspended account. Thresholds are seconds here (see localaws.py)."""
import json
import re
import time

import pytest

from localaws import REGION
from pipeline import local_pipeline

OTHER_REGION = "eu-west-1"


@pytest.fixture(scope="module")
def local():
    with local_pipeline(say=lambda *_: None) as running:
        running.sync_directory()
        yield running


def accounts(local):
    """The organization's accounts, by their sample id."""
    return dict(local.organization.ids)


def audit_events(local, detail_type):
    return [e for e in local.relay.arrivals()["audit"] if e["detail-type"] == detail_type]


def test_every_path_heard_from_is_healthy(local):
    local.beat()
    report = local.check_paths()
    assert report["expected"] == len(accounts(local)) * len(local.regions)
    assert report["silent"] == 0 and report["reportedSilent"] == []
    assert report["healthy"] == report["expected"]


def test_exactly_the_disabled_path_goes_silent_and_comes_back(local):
    quiet_account = accounts(local)["333333333333"]
    quiet = local.member(quiet_account, OTHER_REGION)
    local.relay.arrivals()  # start from an empty audit bus
    quiet.set_forwarding(False)
    try:
        # Its schedule keeps putting heartbeats; the disabled rule drops them.
        local.beat_for(local.relay.SILENCE_THRESHOLD_SECONDS + 2)
        report = local.check_paths()
        assert report["reportedSilent"] == [f"{quiet_account}#{OTHER_REGION}"]
        assert report["silent"] == 1
        [silent] = audit_events(local, "trailrelay Path Silent")
        assert silent["source"] == local.relay.source
        assert silent["detail"]["account"] == quiet_account
        assert silent["detail"]["region"] == OTHER_REGION
        assert silent["detail"]["accountName"] == "payments-prod"
        assert silent["detail"]["silentForSeconds"] > local.relay.SILENCE_THRESHOLD_SECONDS
        # Reported once: the next check says nothing new.
        local.beat()
        again = local.check_paths()
        assert again["reportedSilent"] == [] and again["silent"] == 1
        assert audit_events(local, "trailrelay Path Silent") == []
    finally:
        quiet.set_forwarding(True)
    local.beat()
    report = local.check_paths()
    assert report["reportedRestored"] == [f"{quiet_account}#{OTHER_REGION}"]
    assert report["silent"] == 0
    [restored] = audit_events(local, "trailrelay Path Restored")
    assert restored["detail"]["account"] == quiet_account


def test_a_suspended_account_is_not_reported(local):
    closed = accounts(local)["555555555555"]
    local.organization.client.close_account(AccountId=closed)
    local.sync_directory()
    # Everyone else keeps beating; the closed account falls quiet.
    local.beat_for(local.relay.SILENCE_THRESHOLD_SECONDS + 2, skip=(closed,))
    report = local.check_paths()
    assert report["reportedSilent"] == []
    assert report["expected"] == (len(accounts(local)) - 1) * len(local.regions)
    assert report["notExpected"] == len(local.regions)
    assert audit_events(local, "trailrelay Path Silent") == []


def recorded_since(local, offset):
    """HeartbeatsRecorded summed over the enricher's metric lines logged after `offset`."""
    with open(local.function.proc.log_path, errors="replace") as f:
        f.seek(offset)
        text = f.read()
    return sum(int(n) for n in re.findall(r'"HeartbeatsRecorded":(\d+)', text))


def test_a_burst_of_heartbeats_writes_a_path_at_most_once_per_interval(local):
    member = local.member(accounts(local)["444444444444"], REGION)
    time.sleep(local.relay.HEARTBEAT_WRITE_INTERVAL_SECONDS)
    with open(local.function.proc.log_path) as f:
        offset = f.seek(0, 2)
    started = time.time()
    for _ in range(40):
        member.heartbeat()
    assert local.relay_buffer() == []
    elapsed = time.time() - started
    writes = recorded_since(local, offset)
    allowed = int(elapsed / local.relay.HEARTBEAT_WRITE_INTERVAL_SECONDS) + 1
    assert 1 <= writes <= allowed, f"{writes} writes for 40 heartbeats in {elapsed:.1f}s"
    item = local.relay.dynamodb.get_item(TableName=local.relay.paths_table,
                                         Key={"path": {"S": f"{member.account}#{REGION}"}})["Item"]
    assert abs(int(item["lastSeen"]["N"]) - time.time()) < elapsed + 2


def test_tampering_with_the_forwarding_path_carries_the_signal(local):
    account = accounts(local)["333333333333"]
    disable = {"eventVersion": "1.09", "eventSource": "events.amazonaws.com", "eventName": "DisableRule",
               "eventID": "evt-tamper-e2e", "awsRegion": REGION, "recipientAccountId": account,
               "userIdentity": {"type": "AssumedRole", "accountId": account,
                                "arn": f"arn:aws:sts::{account}:assumed-role/Intruder/x"},
               "requestParameters": {"name": "trailrelay-forward", "eventBusName": "default"}}
    member = local.member(account, REGION)
    member.events.put_events(Entries=[{"Source": "aws.events", "DetailType": "AWS API Call via CloudTrail",
                                       "Detail": json.dumps(disable)}])
    assert local.relay_buffer() == []
    [event] = [e for e in local.relay.arrivals()["audit"] if e["detail"].get("eventID") == "evt-tamper-e2e"]
    assert "relay_tampering" in event["detail"]["enrichment"]["signals"]


def test_paths_lists_every_expected_path_with_its_state(local):
    import os
    import subprocess
    from localaws import ROOT
    env = dict(local.relay.function_environment("PathCheck"))
    env["PATH"] = os.environ.get("PATH", "")
    done = subprocess.run([os.path.join(ROOT, "target", "debug", "trailrelay"), "paths", "--json"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    states = {(r["account"], r["region"]): r["state"] for r in rows}
    closed = accounts(local)["555555555555"]
    assert states[(closed, REGION)] == "not_expected"
    alive = accounts(local)["444444444444"]
    assert states[(alive, REGION)] in ("healthy", "silent")
    assert all(r["lastSeen"] for r in rows if r["state"] == "healthy")
    table = subprocess.run([os.path.join(ROOT, "target", "debug", "trailrelay"), "paths"],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert table.returncode == 0, table.stderr
    assert "path(s)" in table.stdout.splitlines()[-1]
