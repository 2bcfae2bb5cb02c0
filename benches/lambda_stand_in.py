#!/usr/bin/env python3
"""Runs the release enricher binary as Lambda would, against a stand-in
Lambda Runtime API and a stand-in EventBridge (PutEvents answers after a
fixed delay), both on one loopback port, and measures:

- cold start: process start -> its first request for an event, and -> the
  first event handled (its response), over repeated cold starts;
- peak RSS handling a ~6 MB SQS batch (Lambda's payload limit);
- concurrent publishing: 1,000 events (100 PutEvents calls) with each call
  answered after 20 ms.

    python3 benches/lambda_stand_in.py target/release/trailrelay-enricher
"""
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []          # payloads to hand out, in order
        self.served_at = {}       # request id -> time the event was handed out
        self.first_next = None
        self.responses = {}       # request id -> (time, body)
        self.put_delay = 0.0
        self.put_calls = 0
        self.done = threading.Event()


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle and
    # delayed ACKs add ~40 ms to every answer, which would be measured as ours.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            now = time.monotonic()
            with STATE.lock:
                if STATE.first_next is None:
                    STATE.first_next = now
                event = STATE.events.pop(0) if STATE.events else None
            if event is None:
                STATE.done.wait(30)
                self.reply(500)
                return
            rid = f"req-{time.monotonic_ns()}"
            STATE.served_at[rid] = time.monotonic()
            deadline = int(time.time() * 1000) + 30_000
            self.reply(200, event, {"Lambda-Runtime-Aws-Request-Id": rid, "Lambda-Runtime-Deadline-Ms": str(deadline),
                                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:trailrelay-enricher",
                                    "Lambda-Runtime-Trace-Id": "Root=1-0-0", "Content-Type": "application/json"})
            return
        self.reply(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        if "/runtime/invocation/" in self.path:
            rid = self.path.split("/")[-2]
            STATE.responses[rid] = (time.monotonic(), body)
            self.reply(202, b"{}")
            return
        if self.headers.get("X-Amz-Target") == "AWSEvents.PutEvents":
            if STATE.put_delay:
                time.sleep(STATE.put_delay)
            with STATE.lock:
                STATE.put_calls += 1
            n = len(json.loads(body)["Entries"])
            answer = json.dumps({"FailedEntryCount": 0, "Entries": [{"EventId": "e"}] * n}).encode()
            self.reply(200, answer, {"Content-Type": "application/x-amz-json-1.1"})
            return
        self.reply(404)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a function stopped mid-request is expected here


def start_server():
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def environment(port):
    """What Lambda gives a function, not this machine's environment: a
    machine that sets SSL_CERT_FILE and SSL_CERT_DIR (this one does) makes
    the function read its roots from both, which Lambda's does not (see
    docs/performance.md, "Where init goes"). The relay's own settings
    (TRAILRELAY_*) pass through, as the template sets them."""
    env = {k: v for k, v in os.environ.items() if k.startswith("TRAILRELAY_") or k in ("PATH", "LANG", "TZ")}
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "trailrelay-enricher", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/trailrelay-enricher", "RUST_LOG": "error",
    })
    return env


def fixture(fid):
    with open(os.path.join(ROOT, "tests", "fixtures", "events.jsonl")) as f:
        for line in f:
            if f'"id":"{fid}"' in line:
                return json.loads(line)
    raise KeyError(fid)


def sqs(bodies):
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": "r", "body": b, "attributes": {},
                         "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1"}
                        for i, b in enumerate(bodies)]}


def run_once(binary, payload, wrap=()):
    """Starts the binary, hands it one event; returns (to first next, to response, to handled, stderr).
    Each run has a server of its own, so that a request of the previous
    process still in flight cannot take this run's event."""
    server = start_server()
    port = server.server_address[1]
    STATE.events = [json.dumps(payload).encode()]
    STATE.first_next = None
    STATE.responses.clear()
    STATE.served_at.clear()
    STATE.done.clear()
    started = time.monotonic()
    proc = subprocess.Popen(list(wrap) + [binary], env=environment(port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    while not STATE.responses and proc.poll() is None and time.monotonic() - started < 60:
        time.sleep(0.0005)
    STATE.done.set()
    if not wrap:
        proc.terminate()
    # Wrapped (under /usr/bin/time): the runtime's next request gets a 500
    # and the function exits by itself, so the wrapper can report.
    _, err = proc.communicate(timeout=60)
    server.shutdown()
    server.server_close()
    if not STATE.responses:
        raise RuntimeError(f"no response from {binary}: {err.decode()[-2000:]}")
    (rid, (responded, _)), = STATE.responses.items()
    return (STATE.first_next - started, responded - started, responded - STATE.served_at[rid], err.decode())


def main():
    binary = sys.argv[1]
    figures = {}

    small = fixture("fx-iam-create-user")
    firsts, handled = [], []
    for _ in range(20):
        to_next, to_response, _, _ = run_once(binary, small)
        firsts.append(to_next * 1000)
        handled.append(to_response * 1000)
    figures["cold_start_to_first_next_ms_median"] = round(statistics.median(firsts), 2)
    figures["cold_start_to_first_event_handled_ms_median"] = round(statistics.median(handled), 2)
    figures["cold_start_to_first_event_handled_ms_max"] = round(max(handled), 2)

    big = fixture("fx-iam-create-user")
    big["detail"]["requestParameters"] = {"policyDocument": "p" * 250_000}
    batch = sqs([json.dumps(big)] * 23)
    figures["batch_bytes"] = len(json.dumps(batch))
    _, _, _, err = run_once(binary, batch, wrap=("/usr/bin/time", "-f", "maxrss_kb=%M"))
    import re
    rss = re.findall(r"maxrss_kb=(\d+)", err)
    figures["peak_rss_6mb_batch_mb"] = round(int(rss[-1]) / 1024, 1) if rss else None

    STATE.put_delay = 0.020
    thousand = sqs([json.dumps(small)] * 1000)
    for bound in (1, 4, 10):
        os.environ["TRAILRELAY_PUBLISH_CONCURRENCY"] = str(bound)
        STATE.put_calls = 0
        _, _, invocation, _ = run_once(binary, thousand)
        figures[f"publish_1000_events_bound_{bound}_ms"] = round(invocation * 1000, 1)
        figures[f"publish_1000_events_bound_{bound}_ideal_ms"] = -(-STATE.put_calls // bound) * 20
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
