#!/usr/bin/env python3
"""`make demo`: the relay end to end on one machine, with no AWS account.

Starts moto and the enricher (cargo lambda watch), creates the topology of
template.yaml and member-account.yaml, sends the bundled sample events from
member accounts, and prints what arrived on each category bus. Then path
health, in seconds instead of minutes: every account sends heartbeats from
two regions, one account's forward rule is disabled, the path check reports
that path silent on the audit bus, and restored once the rule is back.
Last, reconciliation: CloudTrail logs three calls, EventBridge delivers two
of them, the reconciler reports the third missing and puts it back.
Stops everything it started.
"""
import sys
import time
import uuid

from pipeline import local_pipeline, run_samples


def actor_of(enrichment):
    actor = enrichment["actor"]
    name = actor.get("principalName") or actor.get("arn") or "-"
    return f"{name} ({actor['type']})"


def path_health(local):
    print(f"== path health: {len(local.organization.ids)} accounts x {len(local.regions)} regions "
          f"({', '.join(local.regions)}), silent after {local.relay.SILENCE_THRESHOLD_SECONDS}s")
    local.beat()
    report = local.check_paths()
    print(f"   every path heard from: {report['healthy']} healthy, {report['silent']} silent")
    account = local.organization.ids["333333333333"]
    region = local.regions[-1]
    quiet = local.member(account, region)
    local.relay.arrivals()
    print(f"   disabling the forward rule of {account} (payments-prod) in {region}; heartbeats go on elsewhere")
    quiet.set_forwarding(False)
    local.beat_for(local.relay.SILENCE_THRESHOLD_SECONDS + 2)
    report = local.check_paths()
    print(f"   check: {report['silent']} silent, reported {report['reportedSilent']}")
    for event in local.relay.arrivals()["audit"]:
        d = event["detail"]
        print(f"   audit bus <- {event['detail-type']}: {d['account']} ({d['accountName']}) {d['region']}, "
              f"last seen {d['lastSeen'] or 'never'}, silent for {d['silentForSeconds']}s")
    print("   enabling the rule again")
    quiet.set_forwarding(True)
    local.beat()
    report = local.check_paths()
    print(f"   check: {report['silent']} silent, restored {report['reportedRestored']}")
    for event in local.relay.arrivals()["audit"]:
        d = event["detail"]
        print(f"   audit bus <- {event['detail-type']}: {d['account']} {d['region']}, heard from at "
              f"{d['lastSeen']} (reported silent since {d['silentSince']})")


def reconciliation(local):
    now = int(time.time())
    start = now - now % 3600 - 3600
    at = lambda seconds: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    account = local.organization.ids["333333333333"]
    region = local.regions[0]
    [template] = [e for _, e in local.fixtures() if e and e.get("id") == "fx-iam-create-user"]
    records = [dict(template["detail"], eventID=str(uuid.uuid4()), eventTime=at(start + 600 + 60 * i),
                    recipientAccountId=account, awsRegion=region) for i in range(3)]
    print(f"== reconciliation: the window {at(start)} to {at(start + 3600)}")
    print(f"   CloudTrail logs 3 CreateUser calls of {account} (payments-prod) in {region}; EventBridge "
          "delivers 2 (its delivery of CloudTrail events is best-effort: the third is lost on its way)")
    delivered = local.relay.put_events([dict(template, detail=r) for r in records[:2]], bus="default",
                                       client=local.member(account, region).events)
    assert delivered == 0
    assert local.relay_buffer() == []
    local.relay.write_enriched_copy()
    local.relay.arrivals()
    local.relay.write_trail(account, region, records, time.gmtime(start + 900))
    first = local.reconcile("first", at(start))
    t = first["totals"]
    print(f"   first pass (an hour after the window): {t['expected']} expected, {t['seen']} seen, "
          f"{t['missing']} missing; {first['putBack']['sent']} put back on the buffer queue")
    time.sleep(0.5)
    for event in local.relay.arrivals()["audit"]:
        if event["detail-type"] == "trailrelay Reconciliation Report":
            for p in event["detail"]["paths"]:
                print(f"   audit bus <- trailrelay Reconciliation Report: {p['account']} {p['region']}: "
                      f"{p['missing']} missing of {p['expected']}")
    # The directory here is stale after seconds of an idle enricher (300 s
    # and a day in the template): an empty batch has it read again, so that
    # the put-back event carries only what reconciliation adds.
    local.function.invoke({"Records": []})
    time.sleep(local.relay.DIRECTORY_REFRESH_SECONDS + 0.5)
    assert local.relay_buffer() == []
    time.sleep(0.5)
    for category, events in local.relay.arrivals().items():
        for event in events:
            e = event["detail"]["enrichment"]
            if e["provenance"].get("backfilled"):
                print(f"   {local.relay.buses[category.capitalize() + 'Bus']} <- {event['detail']['eventName']} "
                      f"{event['detail']['eventID']}, backfilled, signals {','.join(e['signals'])}")
    local.relay.write_enriched_copy()
    second = local.reconcile("second", at(start))
    t = second["totals"]
    print(f"   second pass (a day after, here at once): {t['expected']} expected, {t['missing']} missing, "
          f"{t['backfilled']} seen as put back")
    local.relay.arrivals()
    return first, second


def main():
    started = time.time()
    with local_pipeline() as local:
        result = run_samples(local)
        print()
        total = 0
        for category, events in result["arrivals"].items():
            print(f"== {local.relay.buses[category.capitalize() + 'Bus']}: {len(events)} event(s)")
            for event in events:
                detail = event["detail"]
                e = detail["enrichment"]
                name = (detail.get("eventName") or detail.get("insightDetails", {}).get("eventName")
                        or ("(malformed) " + detail.get("malformedReason", ""))[:60])
                account = e["account"]["name"] or e["account"]["id"] or "-"
                if e["account"].get("ouPath"):
                    account += f" ({e['account']['ouPath']})"
                signals = ",".join(e["signals"]) or "-"
                print(f"   {name:<30} {account:<36} {actor_of(e):<32} {signals}")
            total += len(events)
        print()
        path_health(local)
        print()
        reconciliation(local)
        print()
        for note in local.notes:
            print(f"note: {note}")
        print(f"total: {total} event(s) delivered to {sum(1 for v in result['arrivals'].values() if v)} "
              f"category bus(es); {len(result['failed'])} failed; {time.time() - started:.0f}s")
    return 0 if not result["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
