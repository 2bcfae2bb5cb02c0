"""End to end on one machine: moto for AWS, cargo lambda watch for Lambda,
the topology read from the templates. See localaws.py and pipeline.py."""
import json
import time

import pytest

from localaws import expected, fixtures, sqs_batch
from pipeline import fixture_id, local_pipeline, run_samples

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


def arrived_by_fixture(arrivals):
    out = {}
    for category, events in arrivals.items():
        for event in events:
            out.setdefault(fixture_id(event), []).append((category, event))
    return out


def test_every_sample_event_arrives_once_on_its_bus(samples):
    assert samples["failed"] == []
    arrived = arrived_by_fixture(samples["arrivals"])
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


def test_the_record_arrives_unchanged(samples):
    originals = {e["id"]: e["detail"] for _, e in fixtures() if e and isinstance(e.get("detail"), dict)}
    checked = 0
    for category, events in samples["arrivals"].items():
        for event in events:
            fid = fixture_id(event)
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


def test_a_test_event_arrives_with_test_event(samples):
    [(category, event)] = arrived_by_fixture(samples["arrivals"])["fx-test-event"]
    assert category == "identity"
    assert event["detail-type"] == "trailrelay Test Event"
    assert "test_event" in event["detail"]["enrichment"]["signals"]


def test_an_unknown_account_arrives_marked_unknown(samples):
    [(_, event)] = arrived_by_fixture(samples["arrivals"])["fx-unknown-account"]
    account = event["detail"]["enrichment"]["account"]
    assert account["id"] == "999999999999" and account["known"] is False
    assert "unknown_account" in event["detail"]["enrichment"]["signals"]


def test_the_ingest_rule_ignores_our_own_source(local, samples):
    # run_samples put the relay's own event on the ingest bus: the rule did not take it.
    assert not any('"source": "trailrelay"' in body or '"source":"trailrelay"' in body
                   for body in samples["matched"])
    own = next(e for _, e in fixtures() if e and e.get("id") == "fx-own-output")
    local.relay.put_events([own])
    time.sleep(0.3)
    assert local.relay.drain(local.relay.buffer_url) == []
    # And handed to the enricher anyway, it is refused, not re-emitted.
    response, error = local.function.invoke(own)
    assert error is None, error
    assert response["outcome"] == "refused"
    assert all(v == [] for v in local.relay.arrivals().values())


def test_direct_mode_one_event_through_cargo_lambda_invoke(local, samples):
    event = next(e for _, e in fixtures() if e and e.get("id") == "fx-cloudtrail-stop-logging")
    response, error = local.function.invoke(event)
    assert error is None, error
    assert response == {"outcome": "delivered", "eventId": "evt-cloudtrail-stop-logging"}
    time.sleep(0.3)
    arrivals = local.relay.arrivals()
    assert [e["detail"]["eventName"] for e in arrivals["audit"]] == ["StopLogging"]
    assert sum(len(v) for v in arrivals.values()) == 1


def test_a_heartbeat_is_consumed_not_relayed(local, samples):
    heartbeat = next(e for _, e in fixtures() if e and e.get("id") == "fx-heartbeat")
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
        doomed = next(e for _, e in fixtures() if e and e.get("id") == "fx-organizations-leave")
        fine = next(e for _, e in fixtures() if e and e.get("id") == "fx-ec2-run-instances")
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
