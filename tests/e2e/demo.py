#!/usr/bin/env python3
"""`make demo`: the relay end to end on one machine, with no AWS account.

Starts moto and the enricher (cargo lambda watch), creates the topology of
template.yaml and member-account.yaml, sends the bundled sample events from
member accounts, and prints what arrived on each category bus. Stops
everything it started.
"""
import sys
import time

from pipeline import local_pipeline, run_samples


def actor_of(enrichment):
    actor = enrichment["actor"]
    name = actor.get("principalName") or actor.get("arn") or "-"
    return f"{name} ({actor['type']})"


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
        for note in local.notes:
            print(f"note: {note}")
        print(f"total: {total} event(s) delivered to {sum(1 for v in result['arrivals'].values() if v)} "
              f"category bus(es); {len(result['failed'])} failed; {time.time() - started:.0f}s")
    return 0 if not result["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
