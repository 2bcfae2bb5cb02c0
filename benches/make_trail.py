#!/usr/bin/env python3
"""A large CloudTrail trail for measuring `trailrelay reconcile`: FILES log
files of RECORDS records each (the fixtures' CloudTrail records and the
three bench events, cycled, each with an id of its own), laid out as
CloudTrail writes them, and a seen file holding every other id.

    python3 benches/make_trail.py /tmp/bigtrail [FILES] [RECORDS]
    /usr/bin/time -v ./target/release/trailrelay reconcile \
        --trail /tmp/bigtrail/trail --seen /tmp/bigtrail/seen.jsonl > /tmp/missing.jsonl
"""
import gzip
import json
import os
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def records():
    out = []
    with open(os.path.join(ROOT, "tests", "fixtures", "events.jsonl")) as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if (isinstance(event, dict) and isinstance(event.get("detail"), dict)
                    and event.get("source") != "trailrelay" and event.get("detail-type") != "trailrelay Heartbeat"):
                out.append(event["detail"])
    for name in ("typical", "small", "large"):
        with open(os.path.join(HERE, "events", f"{name}.json")) as f:
            out.append(json.load(f)["detail"])
    return out


def main():
    target = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    per_file = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    sample = records()
    folder = os.path.join(target, "trail", "AWSLogs", "o-abc123", "111122223333", "CloudTrail", "eu-west-1", "2026", "11", "20")
    os.makedirs(folder, exist_ok=True)
    n = 0
    size = 0
    with open(os.path.join(target, "seen.jsonl"), "w") as seen:
        for f in range(files):
            batch = []
            for _ in range(per_file):
                record = dict(sample[n % len(sample)], eventID=str(uuid.UUID(int=n + 1)), readOnly=False, eventCategory="Management")
                batch.append(record)
                if n % 2 == 0:
                    seen.write(json.dumps({"detail": {"eventID": record["eventID"]}}) + "\n")
                n += 1
            data = json.dumps({"Records": batch}).encode()
            size += len(data)
            name = f"111122223333_CloudTrail_eu-west-1_20261120T{f // 60 % 24:02d}{f % 60:02d}Z_f{f}.json.gz"
            with gzip.open(os.path.join(folder, name), "wb") as g:
                g.write(data)
    print(f"{n} records in {files} files, {size / 1e6:.0f} MB of JSON", file=sys.stderr)


if __name__ == "__main__":
    main()
