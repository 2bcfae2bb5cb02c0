"""The bundled sample events through the local pipeline:

member account default bus -> forward rule -> ingest bus -> ingest rule ->
buffer queue -> enricher (cargo lambda watch) -> category bus -> consumer queue.

Heartbeats travel the same way, and the path check (cargo lambda watch too)
reads what the enricher recorded of them.
"""
import json
import os
import re
import tempfile
import time
from contextlib import contextmanager

from localaws import REGION, ROOT, Function, Member, MemberRoles, Moto, Organization, Relay, expected, fixtures, sqs_batch

ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


class Local:
    """Everything started for a run; `stop` ends it all."""

    def __init__(self, log_dir, say=print):
        self.say = say
        self.notes = []
        self.log_dir = log_dir
        self.moto = self.function = self.sync_function = self.check_function = None
        self.reconcile_function = None
        try:
            self._start()
        except BaseException:
            # Whatever started before the failure is stopped, not left behind.
            self.stop()
            raise

    def _start(self):
        say, log_dir = self.say, self.log_dir
        say(f"starting moto (AWS API emulator) on loopback; logs in {log_dir}")
        self.moto = Moto(log_dir, record=True)
        say(f"creating the security account's topology from template.yaml in moto ({self.moto.url})")
        self.relay = Relay(self.moto, self.notes)
        say("creating an organization in moto shaped like config/accounts.json")
        self.organization = Organization(self.moto)
        self.members = {}
        self.member_roles = {}
        say("starting the enricher and account-sync under cargo lambda watch (they compile on the first invoke)")
        self.function = Function(log_dir, self.relay.function_environment("Enricher"))
        self.sync_function = Function(log_dir, self.relay.function_environment("AccountSync"),
                                      package="trailrelay-account-sync")
        self.check_function = Function(log_dir, self.relay.function_environment("PathCheck"),
                                       package="trailrelay-path-check")

    def sync_directory(self):
        """Runs account-sync as its schedule would; returns its report."""
        scheduled = {"version": "0", "id": "schedule", "detail-type": "Scheduled Event", "source": "aws.events",
                     "account": "123456789012", "time": "2026-11-26T00:00:00Z", "region": "us-east-1",
                     "resources": [], "detail": {}}
        response, error = self.sync_function.invoke(scheduled)
        if error:
            raise RuntimeError(f"account-sync failed: {error}")
        return response

    def fixtures(self):
        """The sample events, their account ids rewritten to the organization's."""
        out = []
        for line, _ in fixtures():
            line = self.organization.rewrite(line)
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = None
            out.append((line, parsed))
        return out

    def member(self, account, region=None):
        region = region or REGION
        if account not in self.member_roles:
            # The roles StackSet's instance comes first (its auto-deployment is the regional one's DependsOn).
            self.member_roles[account] = MemberRoles(self.moto, account, self.relay.ingest_bus_arn)
        if (account, region) not in self.members:
            self.members[(account, region)] = Member(self.moto, account, self.relay.ingest_bus_arn, region)
        return self.members[(account, region)]

    def relay_buffer(self):
        """Hands what the buffer queue holds (from the ingest rule, or put
        back by the reconciler) to the enricher, with each message's
        attributes, as the event source mapping would; returns the failed
        message ids."""
        time.sleep(0.3)
        messages = self.relay.drain(self.relay.buffer_url)
        bodies = [restore_region(m["Body"]) for m in messages]
        attributes = [m.get("MessageAttributes") for m in messages]
        return invoke_batches(self, bodies, attributes=attributes) if bodies else []

    def reconcile(self, pass_, window_start):
        """Runs the reconciler for one window (RFC 3339 start) and pass, as
        its schedule would for that window; returns its answer. It starts
        under cargo lambda watch on first use."""
        if self.reconcile_function is None:
            self.reconcile_function = Function(self.log_dir, self.relay.function_environment("Reconciler"),
                                               package="trailrelay-reconciler")
        response, error = self.reconcile_function.invoke({"pass": pass_, "windowStart": window_start})
        if error:
            raise RuntimeError(f"the reconciler failed: {error}")
        return response

    @property
    def regions(self):
        return self.relay.ENROLLED_REGIONS.split(",")

    def beat(self, skip=()):
        """One heartbeat from every account of the organization in every
        enrolled region (but the accounts or (account, region) paths skipped),
        relayed the way the buffer queue hands them to the enricher."""
        for account in self.organization.ids.values():
            for region in self.regions:
                if account not in skip and (account, region) not in skip:
                    self.member(account, region).heartbeat()
        failed = self.relay_buffer()
        assert failed == [], f"heartbeats not recorded: {failed}"

    def beat_for(self, seconds, skip=()):
        """Heartbeats every half second for a while (schedules, in seconds)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            self.beat(skip)
            time.sleep(0.5)

    def check_paths(self):
        """Runs the path check as its schedule would; returns its report."""
        scheduled = {"version": "0", "id": "path-check", "detail-type": "Scheduled Event", "source": "aws.events",
                     "account": "123456789012", "time": "2026-11-26T00:00:00Z", "region": REGION,
                     "resources": [], "detail": {}}
        response, error = self.check_function.invoke(scheduled)
        if error:
            raise RuntimeError(f"the path check failed: {error}")
        return response["report"]

    def stop(self):
        for part in (self.function, self.sync_function, self.check_function, self.reconcile_function, self.moto):
            if part is not None:
                part.stop()


@contextmanager
def local_pipeline(log_dir=None, say=print):
    log_dir = log_dir or os.path.join(ROOT, "target", "e2e")
    os.makedirs(log_dir, exist_ok=True)
    local = None
    try:
        local = Local(log_dir, say)
        yield local
    except BaseException:
        if local is not None and local.function is not None:
            say("--- cargo lambda watch log (tail) ---\n" + local.function.proc.tail())
        raise
    finally:
        if local is not None:
            local.stop()


def restore_region(body):
    """moto sets a forwarded event's `region` to the target bus's region,
    where AWS keeps the region it was put in. The enricher takes a
    heartbeat's region from the envelope (and refuses a detail that names
    another), so the harness gives each heartbeat back the region its
    member stack's schedule put it in, which that schedule also writes into
    the detail (member-account.yaml, HeartbeatSchedule's Input)."""
    try:
        event = json.loads(body)
    except ValueError:
        return body
    if not isinstance(event, dict) or event.get("detail-type") != "trailrelay Heartbeat":
        return body
    region = (event.get("detail") or {}).get("region")
    if not isinstance(region, str):
        return body
    event["region"] = region
    return json.dumps(event)


def account_of(event):
    detail = event.get("detail", {})
    for candidate in (detail.get("recipientAccountId"), event.get("account")):
        if candidate is not None and ACCOUNT_ID.match(str(candidate)):
            return str(candidate)
    return None


def invoke_batches(local, bodies, size=10, attributes=None):
    """Hands bodies to the enricher as SQS batches (each with its message
    attributes, when given); returns the failed message ids."""
    failed = []
    for i in range(0, len(bodies), size):
        chunk = [(f"m{i + j}", b) for j, b in enumerate(bodies[i:i + size])]
        attrs = {f"m{i + j}": a for j, a in enumerate((attributes or [])[i:i + size]) if a}
        response, error = local.function.invoke(sqs_batch(chunk, attrs))
        if error:
            raise RuntimeError(f"the enricher failed a batch: {error}")
        failed += [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]
    return failed


def run_samples(local):
    """Sends every sample event the way it would travel, and returns what
    arrived: {"arrivals": {category: [event]}, "unsendable": [...], "failed": [...]}."""
    say = local.say
    report = local.sync_directory()["report"]
    say(f"account-sync wrote the directory: {report['accounts']} accounts, "
        f"{report['organizationalUnits']} OUs, s3://{local.relay.directory_bucket}/{report['latestKey']}")
    by_account = {}
    own_output = []
    unsendable = []
    for line, event in local.fixtures():
        if event is None or not isinstance(event.get("detail"), dict):
            unsendable.append(line)
        elif event.get("source") == local.relay.source:
            own_output.append(event)
        else:
            by_account.setdefault(account_of(event), []).append(event)
    for account, events in sorted(by_account.items(), key=lambda kv: str(kv[0])):
        member = local.member(account)
        say(f"member account {account}: {len(events)} event(s) put on its default bus")
        failed = local.relay.put_events(events, bus="default", client=member.events)
        assert failed == 0, f"PutEvents failed {failed} entries in {account}"
    say(f"security account: {len(own_output)} event(s) with the relay's own source put on the ingest bus")
    local.relay.put_events(own_output)
    time.sleep(0.5)
    matched = [m["Body"] for m in local.relay.drain(local.relay.buffer_url)]
    say(f"the ingest rule matched {len(matched)} event(s) into the buffer queue")
    say(f"{len(unsendable)} input(s) that PutEvents cannot carry (malformed, a bare record) join the SQS batches")
    bodies = matched + unsendable
    failed = invoke_batches(local, bodies)
    time.sleep(0.5)
    return {"arrivals": local.relay.arrivals(), "unsendable": unsendable, "failed": failed,
            "matched": matched}


def _canonical(value):
    return json.dumps(value, sort_keys=True)


_BY_DETAIL = None


def fixture_id(event, local):
    """The fixture an arrived event came from: the one whose record it
    carries (minus the enrichment), or, for malformed input, whose line it
    carries as raw text. Bare records and lines without an id are named
    after their line."""
    global _BY_DETAIL
    if _BY_DETAIL is None:
        _BY_DETAIL = {}
        for number, (line, parsed) in enumerate(local.fixtures(), start=1):
            name = parsed.get("id") if isinstance(parsed, dict) and "id" in parsed else f"line-{number}"
            if isinstance(parsed, dict) and isinstance(parsed.get("detail"), dict):
                _BY_DETAIL[_canonical(parsed["detail"])] = name
            elif isinstance(parsed, dict) and "detail" not in parsed and "eventSource" in parsed:
                _BY_DETAIL[_canonical(parsed)] = name
            _BY_DETAIL["raw:" + line] = name
    detail = dict(event["detail"])
    detail.pop("enrichment", None)
    if "rawInput" in detail and "malformedReason" in detail:
        return _BY_DETAIL.get("raw:" + detail["rawInput"])
    return _BY_DETAIL.get(_canonical(detail))
