#!/usr/bin/env python3
"""Issue 19's four goals, measured in one run on one build and printed as
the Markdown table of docs/performance.md ("Goals"). `make bench` runs it
after building the release binaries and the arm64 package:

    python3 benches/goals.py [--json]

1. `trailrelay route` CPU time (user + sys, one core) on the mix cycled to
   50,000 events, against its floor (shared/examples/route_floor.rs: the same
   I/O, the envelope read with the detail raw, the entry written by the same
   serializer) and against the Python reference (benches/reference.py):
   medians of runs taken in turn; and instructions per event on the mix
   (callgrind), which this shared machine cannot make noisy.
2. Cold start: process start to the enricher's first request for an event
   (the Runtime API's `next`), median of 20 cold starts under the stand-in
   (benches/lambda_stand_in.py), and to the first event handled.
3. Peak RSS handling a 6 MB SQS batch: the mix's events cycled into one
   batch as the event source mapping delivers it (Lambda's payload limit is
   6 MB), and the stand-in's batch of 23 trimmed 250 KB events.
4. The arm64 `bootstrap` of the enricher (`make lambda`), in bytes.
"""
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
import lambda_stand_in as stand_in  # noqa: E402

RELEASE = os.path.join(ROOT, "target", "release")
MIX = os.path.join(ROOT, "benches", "events", "mix.jsonl")
MIX_50K = os.path.join(ROOT, "target", "bench", "mix-50k.jsonl")
BOOTSTRAP = os.path.join(ROOT, "target", "lambda", "trailrelay-enricher", "bootstrap")
SQS_PAYLOAD_LIMIT = 6 * 1024 * 1024

GOALS = {
    "route_over_floor": 1.5,
    "reference_over_route": 8.0,
    "cold_start_ms": 8.0,
    "peak_rss_mb": 32.0,
    "bootstrap_bytes": 8_000_000,
}


def mix_lines():
    with open(MIX) as f:
        return [line for line in f if line.strip()]


def write_mix_50k():
    lines = mix_lines()
    os.makedirs(os.path.dirname(MIX_50K), exist_ok=True)
    with open(MIX_50K, "w") as f:
        for i in range(50_000):
            f.write(lines[i % len(lines)])
    return os.path.getsize(MIX_50K)


def cpu_seconds(command):
    """User + system CPU seconds of one run of `command` pinned to core 0,
    its output discarded."""
    with open(os.devnull, "w") as devnull:
        proc = subprocess.Popen(["taskset", "-c", "0"] + command, stdout=devnull)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command} failed")
    return usage.ru_utime + usage.ru_stime


def interleaved_cpu(commands, rounds):
    """Median CPU seconds of each command, run in turn `rounds` times, so
    that a noisy neighbour weighs on all of them alike."""
    times = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            times[name].append(cpu_seconds(command))
    return {name: statistics.median(t) for name, t in times.items()}


def instructions(command):
    """Instructions of one run (callgrind: repeatable on a noisy machine)."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + command,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True).stderr
    return int(re.search(r"Collected : (\d+)", out).group(1))


def route_goal():
    size = write_mix_50k()
    route = [os.path.join(RELEASE, "trailrelay"), "route", MIX_50K]
    floor = [os.path.join(RELEASE, "examples", "route_floor"), MIX_50K]
    reference = [sys.executable, os.path.join(ROOT, "benches", "reference.py"), MIX_50K]
    cpu = interleaved_cpu({"route": route, "floor": floor}, 11)
    cpu.update(interleaved_cpu({"reference": reference, "route_again": route}, 3))
    # Instructions on the mix itself (400 events) against an empty input: per event.
    empty = os.path.join(ROOT, "target", "bench", "empty.jsonl")
    open(empty, "w").close()
    per_event = {}
    for name, command in (("route", route[:-1]), ("floor", floor[:-1])):
        per_event[name] = (instructions(command + [MIX]) - instructions(command + [empty])) // len(mix_lines())
    return {
        "mix_50k_bytes": size,
        "route_cpu_s": round(cpu["route"], 3),
        "floor_cpu_s": round(cpu["floor"], 3),
        "reference_cpu_s": round(cpu["reference"], 3),
        "route_beside_reference_cpu_s": round(cpu["route_again"], 3),
        "route_over_floor": round(cpu["route"] / cpu["floor"], 2),
        "reference_over_route": round(cpu["reference"] / cpu["route_again"], 2),
        "route_us_per_event": round(cpu["route"] / 50_000 * 1e6, 2),
        "floor_us_per_event": round(cpu["floor"] / 50_000 * 1e6, 2),
        "route_instructions_per_event": per_event["route"],
        "floor_instructions_per_event": per_event["floor"],
        "route_over_floor_instructions": round(per_event["route"] / per_event["floor"], 2),
    }


def cold_start(binary, roots, runs):
    """Medians of `runs` cold starts with TRAILRELAY_TLS_ROOTS=`roots`, in ms:
    to the first `next`, and to the first event handled."""
    os.environ["TRAILRELAY_TLS_ROOTS"] = roots
    small = stand_in.fixture("fx-iam-create-user")
    to_next, to_handled = [], []
    for _ in range(runs):
        first_next, response, _, _ = stand_in.run_once(binary, small)
        to_next.append(first_next * 1000)
        to_handled.append(response * 1000)
    return round(statistics.median(to_next), 2), round(statistics.median(to_handled), 2)


def cold_start_goal(binary, runs=20):
    """The template's default roots (amazon) and the system's, in turn."""
    amazon = cold_start(binary, "amazon", runs)
    system = cold_start(binary, "system", runs)
    os.environ["TRAILRELAY_TLS_ROOTS"] = "amazon"
    return {
        "cold_start_runs": runs,
        "cold_start_ms": amazon[0],
        "cold_start_handled_ms": amazon[1],
        "cold_start_system_roots_ms": system[0],
        "cold_start_system_roots_handled_ms": system[1],
    }


def mix_batch():
    """The mix's events, cycled, as SQS messages until the batch is as large
    as a Lambda payload may be."""
    bodies, size = [], len(json.dumps(stand_in.sqs([])))
    record = len(json.dumps(stand_in.sqs([""])["Records"][0])) + 2
    lines = mix_lines()
    i = 0
    while True:
        body = lines[i % len(lines)].strip()
        grown = size + record + len(json.dumps(body))
        if grown > SQS_PAYLOAD_LIMIT:
            break
        bodies.append(body)
        size, i = grown, i + 1
    return stand_in.sqs(bodies)


def peak_rss_mb(binary, batch):
    _, _, _, err = stand_in.run_once(binary, batch, wrap=("/usr/bin/time", "-f", "maxrss_kb=%M"))
    rss = re.findall(r"maxrss_kb=(\d+)", err)
    if not rss:
        raise RuntimeError(f"no peak RSS reported: {err[-2000:]}")
    return round(int(rss[-1]) / 1024, 1)


def rss_goal(binary):
    mixed = mix_batch()
    large = stand_in.fixture("fx-iam-create-user")
    large["detail"]["requestParameters"] = {"policyDocument": "p" * 250_000}
    trimmed = stand_in.sqs([json.dumps(large)] * 23)
    return {
        "mix_batch_events": len(mixed["Records"]),
        "mix_batch_bytes": len(json.dumps(mixed)),
        "peak_rss_mb": peak_rss_mb(binary, mixed),
        "large_batch_bytes": len(json.dumps(trimmed)),
        "peak_rss_large_batch_mb": peak_rss_mb(binary, trimmed),
    }


def size_goal():
    if not os.path.exists(BOOTSTRAP):
        return {"bootstrap_bytes": None}
    return {"bootstrap_bytes": os.path.getsize(BOOTSTRAP)}


def met(value, goal, at_least=False):
    if value is None:
        return "not measured"
    return "yes" if (value >= goal if at_least else value <= goal) else "no"


def table(f):
    rows = [
        ("`route` CPU time over its floor, mix x 50,000 (one core, median of 11)",
         "`taskset -c 0`, user + sys, `trailrelay route` / `examples/route_floor`, 11 runs each in turn; callgrind on `benches/events/mix.jsonl`",
         f"{f['route_cpu_s']} s / {f['floor_cpu_s']} s = **{f['route_over_floor']}x** "
         f"({f['route_us_per_event']} / {f['floor_us_per_event']} us an event; instructions "
         f"{f['route_instructions_per_event']:,} / {f['floor_instructions_per_event']:,} an event = "
         f"{f['route_over_floor_instructions']}x)",
         "<= 1.5x", met(f["route_over_floor"], GOALS["route_over_floor"])),
        ("`route` against the Python reference, same file (3 runs each in turn)",
         "`benches/reference.py`",
         f"{f['reference_cpu_s']} s against {f['route_beside_reference_cpu_s']} s: **{f['reference_over_route']}x** slower",
         ">= 8x", met(f["reference_over_route"], GOALS["reference_over_route"], at_least=True)),
        (f"cold start, process start to first `next` (x86_64 release, median of {f['cold_start_runs']}, `TlsRoots=amazon`, the default)",
         "`benches/lambda_stand_in.py` `run_once`, Lambda's environment",
         f"**{f['cold_start_ms']} ms** (first event handled: {f['cold_start_handled_ms']} ms); "
         f"with `TlsRoots=system`: {f['cold_start_system_roots_ms']} ms ({f['cold_start_system_roots_handled_ms']} ms)",
         "<= 8 ms", met(f["cold_start_ms"], GOALS["cold_start_ms"])),
        (f"peak RSS, 6 MB SQS batch of the mix ({f['mix_batch_events']} events, {f['mix_batch_bytes']:,} bytes)",
         "`/usr/bin/time -f %M` around the enricher under the stand-in (`TlsRoots=amazon`)",
         f"**{f['peak_rss_mb']} MB** (23 trimmed 250 KB events, {f['large_batch_bytes']:,} bytes: "
         f"{f['peak_rss_large_batch_mb']} MB)",
         "<= 32 MB", met(max(f["peak_rss_mb"], f["peak_rss_large_batch_mb"]), GOALS["peak_rss_mb"])),
        ("arm64 `bootstrap`, enricher", "`make lambda`; size of target/lambda/trailrelay-enricher/bootstrap",
         f"**{f['bootstrap_bytes']:,} bytes**" if f["bootstrap_bytes"] else "not built",
         "< 8,000,000 bytes", met(f["bootstrap_bytes"], GOALS["bootstrap_bytes"] - 1)),
    ]
    lines = ["| goal | command | figure | target | met |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def main():
    enricher = os.path.join(RELEASE, "trailrelay-enricher")
    figures = {}
    figures.update(route_goal())
    figures.update(cold_start_goal(enricher))
    figures.update(rss_goal(enricher))
    figures.update(size_goal())
    if "--json" in sys.argv:
        print(json.dumps(figures, indent=2))
    else:
        print(table(figures))
        print()
        print("```json")
        print(json.dumps(figures, indent=2))
        print("```")


if __name__ == "__main__":
    main()
