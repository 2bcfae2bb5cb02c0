#!/usr/bin/env python3
"""The enriched copy's side of a reconciliation benchmark: `trailrelay
route` output (PutEvents entries, on stdin) written as a category bus
delivers the events, gzip JSON Lines as the copy's objects hold them, each
record's eventID replaced by a UUID (as CloudTrail's are), `repeat` times.

    ./target/release/trailrelay route target/baseline/events-50k.jsonl | python3 benches/make_copy.py /tmp/copy50k.jsonl.gz 4
"""
import gzip
import json
import sys
import uuid


def main(path, repeat):
    entries = [json.loads(line) for line in sys.stdin]
    n = 0
    with gzip.open(path, "wt") as out:
        for _ in range(repeat):
            for e in entries:
                detail = json.loads(e["Detail"])
                if "eventID" in detail:
                    detail["eventID"] = str(uuid.UUID(int=n + 1))
                n += 1
                event = {"version": "0", "id": str(uuid.UUID(int=10**9 + n)), "detail-type": e["DetailType"],
                         "source": e["Source"], "account": "111122223333", "time": e["Time"],
                         "region": "us-east-1", "resources": e["Resources"], "detail": detail}
                out.write(json.dumps(event, separators=(",", ":")) + "\n")
    print(f"{n} events in {path}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
