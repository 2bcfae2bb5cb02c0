"""Local stand-ins for AWS, for the end-to-end tests, the template tests' resolver and `make demo`.

- moto's server mode on a free loopback port (the AWS APIs);
- `cargo lambda watch` serving the functions (the Lambda runtime);
- the topology of template.yaml and member-account.yaml, read from the
  templates themselves and created in moto, so that the local run cannot
  drift from what gets deployed.

Nothing here talks to anything but 127.0.0.1.
"""
import base64
import gzip
import hashlib
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import boto3
from cfnlint.decode import decode_str

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
REGION = "us-east-1"
# moto's default account stands for the security account.
SECURITY_ACCOUNT = "123456789012"
NOVALUE = object()


def categories():
    """The categories, in bus order, as the relay declares them: from the
    enrichment's JSON Schema, which a Rust test keeps equal to
    `trailrelay schema`."""
    with open(os.path.join(ROOT, "docs", "enrichment.schema.json")) as f:
        return json.load(f)["$defs"]["Category"]["enum"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds, process=None, what="server"):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {seconds}s")


class Process:
    """A child process with its log in a file, stopped by its PID."""

    def __init__(self, name, argv, log_dir, env=None, cwd=ROOT):
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                        env=env, cwd=cwd, start_new_session=True)

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, 15)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.log.close()

    def tail(self, lines=40):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def started(proc, port, seconds, what):
    """Waits for a process to listen; stops it if it does not."""
    try:
        wait_for_port(port, seconds, proc.process, what)
    except BaseException:
        proc.stop()
        raise


# The access key each function runs with here, by its template resource and
# by its name in tests/iam/aws-calls.json (moto maps any key it did not
# issue to its default account, the security account).
FUNCTION_KEYS = {"Enricher": "AKIDENRICHER", "AccountSync": "AKIDACCOUNTSYNC", "PathCheck": "AKIDPATHCHECK",
                 "Reconciler": "AKIDRECONCILER"}
PRINCIPAL_OF_KEY = {"AKIDENRICHER": "enricher", "AKIDACCOUNTSYNC": "account-sync", "AKIDPATHCHECK": "path-check",
                    "AKIDRECONCILER": "reconciler"}
# A SigV4 credential scope's service, by its IAM prefix.
SIGNING_SERVICES = {"monitoring": "cloudwatch"}


def recorded_calls(recording, keys):
    """What moto's recording holds of the requests signed with these access
    keys, as {access key: {"service:Operation"}}:
    the service from the request's SigV4 scope, the operation from its
    protocol (JSON's X-Amz-Target, query's Action, REST paths of S3 and
    Lambda). A request it cannot name raises, so none is left uncounted."""
    out = {}
    with open(recording) as f:
        for line in f:
            entry = json.loads(line)
            headers = {k.lower(): v for k, v in entry["headers"].items()}
            scope = re.search(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request", headers.get("authorization", ""))
            if scope is None or scope.group(1) not in keys:
                continue  # unsigned (moto's own API) or the harness's own calls
            key, service = scope.group(1), SIGNING_SERVICES.get(scope.group(2), scope.group(2))
            out.setdefault(key, set()).add(f"{service}:{recorded_operation(service, entry, headers)}")
    return out


def recorded_operation(service, entry, headers):
    if "x-amz-target" in headers:
        return headers["x-amz-target"].rsplit(".", 1)[1]
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    url = urllib.parse.urlsplit(entry["url"])
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    if "Action" in query or body.startswith("Action=") or "&Action=" in body:
        return (query.get("Action") or urllib.parse.parse_qs(body)["Action"])[0]
    path = urllib.parse.unquote(url.path)
    if service == "s3":
        bucket_and_key = path.lstrip("/").split("/", 1)
        has_key = len(bucket_and_key) == 2 and bucket_and_key[1] != ""
        if entry["method"] == "GET" and not has_key and query.get("list-type") == ["2"]:
            return "ListObjectsV2"
        if has_key and entry["method"] in ("GET", "PUT", "HEAD", "DELETE"):
            return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}[
                entry["method"]]
    if service == "lambda":
        if re.fullmatch(r"/2015-03-31/functions/[^/]+/invocations", path):
            return "Invoke"
        if re.fullmatch(r"/2015-03-31/functions/[^/]+/configuration", path) and entry["method"] == "GET":
            return "GetFunctionConfiguration"
    raise ValueError(f"cannot name the {service} call {entry['method']} {entry['url']}")


class Moto:
    """moto in server mode on a free loopback port. With `record`, moto
    writes every request it serves to `recording` (its recorder), so a test
    can read which calls each function made (`recorded_calls`)."""

    def __init__(self, log_dir, record=False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.recording = os.path.join(log_dir, "moto-recording.jsonl") if record else None
        env = dict(os.environ)
        if record:
            env.update({"MOTO_ENABLE_RECORDING": "true", "MOTO_RECORDER_FILEPATH": self.recording})
        self.proc = Process("moto", [os.path.join(VENV_BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                            log_dir, env=env)
        started(self.proc, self.port, 30, "moto_server")

    def stop(self):
        self.proc.stop()

    def credentials(self, account=SECURITY_ACCOUNT):
        """Credentials that moto maps to `account` (through STS for any other than its default)."""
        base = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        if account == SECURITY_ACCOUNT:
            return base
        sts = boto3.client("sts", endpoint_url=self.url, region_name=REGION, **base)
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                            RoleSessionName="trailrelay-harness")["Credentials"]
        return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                "aws_session_token": c["SessionToken"]}

    def client(self, service, account=SECURITY_ACCOUNT, region=REGION):
        return boto3.client(service, endpoint_url=self.url, region_name=region, **self.credentials(account))


def transforms(doc):
    """A template's Transform as a list (CloudFormation takes one name or a list)."""
    transform = doc.get("Transform") or []
    return [transform] if isinstance(transform, str) else list(transform)


def uses_language_extensions(doc):
    return "AWS::LanguageExtensions" in transforms(doc)


HIDDEN_FIND_IN_MAP = "Trailrelay::FindInMap"


def _renamed(value, old, new):
    if isinstance(value, dict):
        return {(new if k == old else k): _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value


def expand(doc, path="template.yaml", region=REGION):
    """`Fn::ForEach` (AWS::LanguageExtensions) expanded as cfn-lint expands
    it; everything else left for the resolver, as CloudFormation leaves it
    to the stack. cfn-lint's transform also resolves `Fn::FindInMap` (one
    keyed by a parameter to a value of its choosing, not the deployment's),
    so each is hidden from it under another name (the loop variable is
    still put into it) and given back after. A template without the
    transform is returned as it is. Every reader of the templates (the
    resolver, the template and flow tests, the e2e harness, `make demo`)
    goes through here."""
    if not uses_language_extensions(doc):
        return doc
    # cfn-lint's own transform, a private module of the pinned cfn-lint
    # (tools/requirements.txt): used here and nowhere else.
    from cfnlint.template import Template as LintTemplate
    from cfnlint.template.transforms._language_extensions import language_extension

    hidden = _renamed(json.loads(json.dumps(doc)), "Fn::FindInMap", HIDDEN_FIND_IN_MAP)
    problems, expanded = language_extension(LintTemplate(path, hidden, [region]))
    if problems or expanded is None:
        raise ValueError(f"{path}: Fn::ForEach cannot be expanded: {[str(p) for p in problems]}")
    expanded = _renamed(expanded, HIDDEN_FIND_IN_MAP, "Fn::FindInMap")
    rest = [t for t in transforms(expanded) if t != "AWS::LanguageExtensions"]
    if rest:
        expanded["Transform"] = rest if len(rest) > 1 else rest[0]
    else:
        expanded.pop("Transform", None)
    return expanded


class Template:
    """A CloudFormation template with its intrinsic functions resolved the way
    CloudFormation would for one account, region and set of parameters."""

    def __init__(self, path, account, parameters=None, region=REGION):
        with open(os.path.join(ROOT, path)) as f:
            doc, problems = decode_str(f.read())
        assert not problems, problems
        self.doc = expand(doc, path, region)
        self.account = account
        self.region = region
        self.params = {k: v.get("Default") for k, v in self.doc.get("Parameters", {}).items()}
        self.params.update(parameters or {})
        self._conditions = {}

    # -- what resources are called
    def resources(self, kind):
        return {k: v for k, v in self.doc["Resources"].items()
                if v["Type"] == kind and self.condition(v.get("Condition", True))}

    def props(self, resource_id):
        return self.resolve(self.doc["Resources"][resource_id].get("Properties", {}))

    def name_of(self, resource_id):
        r = self.doc["Resources"][resource_id]
        if r["Type"] == "AWS::S3::Bucket":
            # CloudFormation names it; any valid, predictable name will do here.
            return f"{self.params.get('NamePrefix', 'trailrelay')}-{resource_id.lower()}-{self.account}"
        key = {"AWS::Events::EventBus": "Name", "AWS::Events::Rule": "Name", "AWS::SQS::Queue": "QueueName",
               "AWS::IAM::Role": "RoleName", "AWS::Serverless::Function": "FunctionName",
               "AWS::DynamoDB::Table": "TableName", "AWS::Scheduler::Schedule": "Name",
               "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName"}.get(r["Type"])
        if key is None:
            return resource_id  # resources the harness does not create (keys, log groups, ...)
        return self.resolve(r["Properties"][key])

    def arn_of(self, resource_id):
        r = self.doc["Resources"][resource_id]
        name, kind, acct, REGION = self.name_of(resource_id), r["Type"], self.account, self.region
        if kind == "AWS::Events::EventBus":
            return f"arn:aws:events:{REGION}:{acct}:event-bus/{name}"
        if kind == "AWS::Events::Rule":
            bus = self.resolve(r["Properties"].get("EventBusName", "default"))
            path = name if bus == "default" else f"{bus}/{name}"
            return f"arn:aws:events:{REGION}:{acct}:rule/{path}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{acct}:{name}"
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{acct}:role/{name}"
        if kind == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{REGION}:{acct}:function:{name}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{REGION}:{acct}:table/{name}"
        if kind == "AWS::KinesisFirehose::DeliveryStream":
            return f"arn:aws:firehose:{REGION}:{acct}:deliverystream/{name}"
        return f"arn:aws:cloudformation:{REGION}:{acct}:{resource_id}"

    # -- intrinsic functions
    def condition(self, name_or_expr):
        if name_or_expr is True:
            return True
        if isinstance(name_or_expr, str):
            if name_or_expr not in self._conditions:
                self._conditions[name_or_expr] = self.condition(self.doc["Conditions"][name_or_expr])
            return self._conditions[name_or_expr]
        (fn, args), = name_or_expr.items()
        if fn == "Fn::Equals":
            a, b = (self.resolve(x) for x in args)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.condition(args[0])
        if fn == "Fn::Or":
            return any(self.condition(a) for a in args)
        if fn == "Fn::And":
            return all(self.condition(a) for a in args)
        if fn == "Condition":
            return self.condition(args)
        raise ValueError(f"condition {fn} not understood")

    def ref(self, name):
        partition = "aws-cn" if self.region.startswith("cn-") else "aws-us-gov" if self.region.startswith("us-gov-") else "aws"
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::Partition": partition,
                  "AWS::StackName": "trailrelay", "AWS::NoValue": NOVALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            value = self.params[name]
            kind = self.doc.get("Parameters", {}).get(name, {}).get("Type")
            if kind == "CommaDelimitedList" and isinstance(value, str):
                return value.split(",")  # as CloudFormation: "" is [""]
            return value
        return self.name_of(name)

    def sub(self, text, variables=None):
        variables = variables or {}

        def one(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(self.resolve(variables[key]))
            if "." in key and not key.startswith("AWS::"):
                resource, attr = key.split(".", 1)
                return str(self.get_att(resource, attr))
            return str(self.ref(key))
        return re.sub(r"\$\{([^}]+)\}", one, text)

    def get_att(self, resource, attr):
        if attr == "Arn":
            return self.arn_of(resource)
        if attr == "QueueName":
            return self.name_of(resource)
        raise ValueError(f"GetAtt {resource}.{attr} not understood")

    def resolve(self, value):
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not NOVALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, args), = value.items()
            if fn == "Ref":
                return self.ref(args)
            if fn == "Fn::Sub":
                return self.sub(args) if isinstance(args, str) else self.sub(args[0], args[1])
            if fn == "Fn::GetAtt":
                resource, attr = args if isinstance(args, list) else args.split(".", 1)
                return self.get_att(resource, attr)
            if fn == "Fn::If":
                cond, yes, no = args
                return self.resolve(yes if self.condition(cond) else no)
            if fn == "Fn::Split":
                return str(self.resolve(args[1])).split(args[0])
            if fn == "Fn::Select":
                return self.resolve(args[1])[int(args[0])]
            if fn == "Fn::Join":
                return args[0].join(str(x) for x in self.resolve(args[1]))
            if fn == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(a) for a in args)
                return self.doc["Mappings"][m][str(k1)][k2]
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NOVALUE}


CONSUMER_SUFFIX = "-consumer"


class Relay:
    """The security account's topology from template.yaml, in moto.

    moto cannot invoke a Lambda function without docker, so the ingest
    rule's target is the template's buffer queue (Mode=buffered): what the
    queue holds is exactly what the rule matched, and the harness hands it
    to the function (as SQS batches, or one event at a time in direct mode).
    """

    # Shorter than the template's defaults, so a test sees a refresh, and a
    # stale copy, within seconds.
    DIRECTORY_REFRESH_SECONDS = 1
    DIRECTORY_MAX_AGE_SECONDS = 6
    # Path health in seconds, not minutes: member accounts are enrolled in
    # two regions, a path is silent after 6 s, and a container writes a
    # path's last-seen time at most every second.
    ENROLLED_REGIONS = "us-east-1,eu-west-1"
    SILENCE_THRESHOLD_SECONDS = 6
    HEARTBEAT_WRITE_INTERVAL_SECONDS = 1

    # The organization trail's bucket and prefix: in the log-archive account
    # in AWS, in the security account here (moto enforces no bucket policy).
    TRAIL_BUCKET = "org-trail-log-archive"
    TRAIL_KEY_PREFIX = "org"

    def __init__(self, moto, notes, organization_id="o-exampleorgid"):
        self.moto = moto
        self.notes = notes
        self.organization_id = organization_id
        self.template = Template("template.yaml", SECURITY_ACCOUNT, {
            "Mode": "buffered", "OrganizationId": organization_id,
            "TrailBucket": self.TRAIL_BUCKET, "TrailKeyPrefix": self.TRAIL_KEY_PREFIX,
            "DirectoryRefreshSeconds": self.DIRECTORY_REFRESH_SECONDS,
            "DirectoryMaxAgeSeconds": self.DIRECTORY_MAX_AGE_SECONDS,
            "EnrolledRegions": self.ENROLLED_REGIONS,
            "SilenceThresholdSeconds": self.SILENCE_THRESHOLD_SECONDS})
        notes.append(f"the enricher re-reads the directory every {self.DIRECTORY_REFRESH_SECONDS}s here "
                     f"(template default 300s), and calls it stale after {self.DIRECTORY_MAX_AGE_SECONDS}s")
        notes.append(f"a path is silent after {self.SILENCE_THRESHOLD_SECONDS}s here (template default 900s); "
                     "moto fires no schedules, so the harness sends each heartbeat and runs each check")
        self.events = moto.client("events")
        self.sqs = moto.client("sqs")
        self.s3 = moto.client("s3")
        t = self.template
        for rid in t.resources("AWS::S3::Bucket"):
            self.s3.create_bucket(Bucket=t.name_of(rid))
        self.s3.create_bucket(Bucket=self.TRAIL_BUCKET)
        notes.append(f"the organization trail's bucket ({self.TRAIL_BUCKET}) is in the security account here; "
                     "moto writes no log files: the harness writes them as CloudTrail would (write_trail)")
        self.directory_bucket = t.name_of("DirectoryBucket")
        self.dynamodb = moto.client("dynamodb")
        for rid in t.resources("AWS::DynamoDB::Table"):
            p = t.props(rid)
            self.dynamodb.create_table(TableName=p["TableName"], KeySchema=p["KeySchema"],
                                       AttributeDefinitions=p["AttributeDefinitions"], BillingMode=p["BillingMode"])
        self.paths_table = t.name_of("PathsTable")
        self.buses = {}
        for rid in t.resources("AWS::Events::EventBus"):
            p = t.props(rid)
            self.events.create_event_bus(Name=p["Name"])
            if "Policy" in p:
                self.events.put_permission(EventBusName=p["Name"], Policy=json.dumps(p["Policy"]))
            self.buses[rid] = p["Name"]
        self.queue_urls = {}
        for rid in t.resources("AWS::SQS::Queue"):
            p = t.props(rid)
            attributes = {"MessageRetentionPeriod": str(p.get("MessageRetentionPeriod", 345600))}
            if "VisibilityTimeout" in p:
                attributes["VisibilityTimeout"] = str(p["VisibilityTimeout"])
            if p.get("SqsManagedSseEnabled") is True:
                attributes["SqsManagedSseEnabled"] = "true"
            self.queue_urls[rid] = self.sqs.create_queue(QueueName=p["QueueName"], Attributes=attributes)["QueueUrl"]
        # Redrive policies name other queues: set them once all exist.
        for rid in t.resources("AWS::SQS::Queue"):
            redrive = t.props(rid).get("RedrivePolicy")
            if redrive:
                self.sqs.set_queue_attributes(QueueUrl=self.queue_urls[rid],
                                              Attributes={"RedrivePolicy": json.dumps(redrive)})
        notes.append("queues are created without their KMS key: moto stores, but does not apply, encryption")
        # moto does not deliver from a bus to Firehose: each copy stream is
        # stood in for by a queue its rule targets instead, and
        # write_enriched_copy() writes what the queues hold into the bucket
        # as the stream would (gzip JSON Lines under the stream's prefix).
        streams = {t.arn_of(rid): rid for rid in t.resources("AWS::KinesisFirehose::DeliveryStream")}
        self.copy_standins = {}
        if streams:
            notes.append("moto does not deliver to Firehose: each copy rule targets a queue, and the harness "
                         "writes the queue's events into the enriched copy bucket as the stream would")
        for rid in t.resources("AWS::Events::Rule"):
            p = t.props(rid)
            for x in p["Targets"]:
                if x["Arn"] in streams:
                    stream = streams[x["Arn"]]
                    url = self.sqs.create_queue(QueueName=t.name_of(stream) + "-standin")["QueueUrl"]
                    self.copy_standins[stream] = url
                    x.pop("RoleArn", None)
                    x["Arn"] = self.sqs.get_queue_attributes(
                        QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            targets = [x for x in p["Targets"] if ":lambda:" not in x["Arn"]]
            if not targets:
                # A rule whose only target is a function (account-sync's schedule
                # and Organizations-changes rules): moto cannot invoke it.
                notes.append(f"rule {p['Name']} not created: its target is a function; the harness invokes it")
                continue
            self.events.put_rule(Name=p["Name"], EventBusName=p["EventBusName"],
                                 EventPattern=json.dumps(p["EventPattern"]), State=p["State"])
            self.events.put_targets(Rule=p["Name"], EventBusName=p["EventBusName"], Targets=targets)
        self.ingest_bus = self.buses["IngestBus"]
        self.ingest_bus_arn = t.arn_of("IngestBus")
        self.buffer_url = self.queue_urls["BufferQueue"]
        self.source = t.params["EventSource"]
        # A consumer per category bus: a queue, subscribed by a rule on the bus.
        self.consumers = {}
        for rid, name in self.buses.items():
            if rid != "IngestBus":
                self._subscribe(name)

    def _subscribe(self, bus_name):
        category = bus_name[len(self.template.params["NamePrefix"]) + 1:]
        url = self.sqs.create_queue(QueueName=bus_name + CONSUMER_SUFFIX)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name="consumer", EventBusName=bus_name,
                             EventPattern=json.dumps({"source": [self.source]}))
        self.events.put_targets(Rule="consumer", EventBusName=bus_name, Targets=[{"Id": "queue", "Arn": arn}])
        self.consumers[category] = url

    def restore_category_bus(self, category):
        """Creates a category bus again as the template has it, with its consumer."""
        rid = category.capitalize() + "Bus"
        p = self.template.props(rid)
        self.events.create_event_bus(Name=p["Name"])
        self.events.put_permission(EventBusName=p["Name"], Policy=json.dumps(p["Policy"]))
        self._subscribe(p["Name"])

    def function_environment(self, function="Enricher"):
        """A function's environment as the template gives it, pointed at moto."""
        env = {k: str(v) for k, v in self.template.props(function)["Environment"]["Variables"].items()}
        if function == "Enricher":
            env["TRAILRELAY_HEARTBEAT_WRITE_INTERVAL_SECS"] = str(self.HEARTBEAT_WRITE_INTERVAL_SECONDS)
        if function == "Reconciler" and "TRAILRELAY_BUFFER_QUEUE_URL" in env:
            # !Ref of a queue is its URL in AWS; the resolver gives names.
            env["TRAILRELAY_BUFFER_QUEUE_URL"] = self.queue_urls["BufferQueue"]
        # A key of its own, so that moto's recording says which function made each call.
        env.update({"AWS_ENDPOINT_URL": self.moto.url, "AWS_ACCESS_KEY_ID": FUNCTION_KEYS[function],
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION, "RUST_LOG": os.environ.get("RUST_LOG", "info")})
        return env

    def put_events(self, events, bus=None, client=None):
        """PutEvents for EventBridge events given as envelopes; returns the failed count."""
        client = client or self.events
        failed = 0
        for i in range(0, len(events), 10):
            entries = [{"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"]),
                        "Resources": e.get("resources", []), "EventBusName": bus or self.ingest_bus}
                       for e in events[i:i + 10]]
            failed += client.put_events(Entries=entries)["FailedEntryCount"]
        return failed

    def drain(self, url, wait=0):
        """Every message of a queue, deleted as read."""
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                           AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            if not got:
                return out
            out.extend(got)
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])

    def write_enriched_copy(self, at=None):
        """What Firehose would have written by now: each stand-in queue's
        events as one gzip JSON Lines object under its stream's prefix, the
        hour being the delivery's (`at`, default now). Returns the keys written."""
        at = at or time.gmtime()
        bucket = self.template.name_of("EnrichedCopyBucket")
        keys = []
        for stream, url in sorted(self.copy_standins.items()):
            bodies = [m["Body"] for m in self.drain(url)]
            if not bodies:
                continue
            prefix = self.template.props(stream)["ExtendedS3DestinationConfiguration"]["Prefix"]
            prefix = prefix.replace("!{timestamp:yyyy-MM-dd-HH}", time.strftime("%Y-%m-%d-%H", at))
            key = f"{prefix}{self.template.name_of(stream)}-{time.strftime('%Y-%m-%d-%H-%M-%S', at)}-{len(keys)}.gz"
            data = gzip.compress("".join(b + "\n" for b in bodies).encode())
            self.s3.put_object(Bucket=bucket, Key=key, Body=data)
            keys.append(key)
        return keys

    def write_trail(self, account, region, records, delivered_at):
        """One log file as the organization trail writes it: gzip
        {"Records": [...]} under the path's day folder, named by its
        delivery time (a struct_time). Returns the key."""
        folder = (f"{self.TRAIL_KEY_PREFIX}/AWSLogs/{self.organization_id}/{account}/CloudTrail/{region}/"
                  + time.strftime("%Y/%m/%d/", delivered_at))
        stamp = time.strftime("%Y%m%dT%H%MZ", delivered_at)
        unique = hashlib.sha1(",".join(str(r.get("eventID")) for r in records).encode()).hexdigest()[:16]
        key = f"{folder}{account}_CloudTrail_{region}_{stamp}_{unique}.json.gz"
        body = gzip.compress(json.dumps({"Records": records}).encode())
        self.s3.put_object(Bucket=self.TRAIL_BUCKET, Key=key, Body=body)
        return key

    def arrivals(self):
        """What each consumer queue received since the last call: category -> [event]."""
        return {c: [json.loads(m["Body"]) for m in self.drain(url)] for c, url in self.consumers.items()}


class Consumer:
    """A consumer account's subscription from consumer-account.yaml, in
    moto: its bus (with the policy that admits only the category buses'
    rules), the example rule and queue on that bus, and the subscription
    rule on the security account's category bus, targeting the consumer's
    bus. In AWS the consumer account creates that rule on the security
    account's bus (it is its creator); moto keeps a bus's rules in the bus
    owner's account only, so the harness creates it there, as the template
    says it."""

    def __init__(self, moto, account, security_account=SECURITY_ACCOUNT, category="identity", region=REGION):
        self.account = account
        self.events = moto.client("events", account, region)
        self.sqs = moto.client("sqs", account, region)
        t = Template("consumer-account.yaml", account, {"SecurityAccountId": security_account, "Category": category},
                     region=region)
        self.template = t
        bus = t.props("ConsumerBus")
        self.events.create_event_bus(Name=bus["Name"])
        self.events.put_permission(EventBusName=bus["Name"], Policy=json.dumps(bus["Policy"]))
        self.bus_policy = bus["Policy"]
        self.queue_urls = {}
        for rid in t.resources("AWS::SQS::Queue"):
            self.queue_urls[rid] = self.sqs.create_queue(QueueName=t.props(rid)["QueueName"])["QueueUrl"]
        example = t.props("ExampleRule")
        self.events.put_rule(Name=example["Name"], EventBusName=example["EventBusName"],
                             EventPattern=json.dumps(example["EventPattern"]), State=example["State"])
        self.events.put_targets(Rule=example["Name"], EventBusName=example["EventBusName"],
                                Targets=[{k: v for k, v in x.items() if k != "DeadLetterConfig"}
                                         for x in example["Targets"]])
        subscription = t.props("SubscriptionRule")
        self.subscription = subscription
        owner = moto.client("events", security_account, region)
        bus_name = subscription["EventBusName"].rsplit("/", 1)[1]
        owner.put_rule(Name=subscription["Name"], EventBusName=bus_name,
                       EventPattern=json.dumps(subscription["EventPattern"]), State=subscription["State"])
        owner.put_targets(Rule=subscription["Name"], EventBusName=bus_name,
                          Targets=[{k: v for k, v in x.items() if k != "DeadLetterConfig"}
                                   for x in subscription["Targets"]])

    def received(self):
        """What reached the example queue, deleted as read."""
        url = self.queue_urls["ExampleQueue"]
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            out.extend(json.loads(m["Body"]) for m in got)
            for m in got:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


class MemberRoles:
    """A member account's roles from member-roles.yaml, in moto: the
    forwarder, heartbeat and (with SecurityAccountId) doctor roles, with
    their trust and inline policies, made once per account as the roles
    StackSet makes them (moto stores them and enforces none)."""

    def __init__(self, moto, account, ingest_bus_arn, parameters=None):
        self.account = account
        self.template = Template("member-roles.yaml", account, {"IngestBusArn": ingest_bus_arn, **(parameters or {})})
        iam = moto.client("iam", account)
        self.names = {}
        for rid in self.template.resources("AWS::IAM::Role"):
            p = self.template.props(rid)
            iam.create_role(RoleName=p["RoleName"], AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]))
            for policy in p.get("Policies", []):
                iam.put_role_policy(RoleName=p["RoleName"], PolicyName=policy["PolicyName"],
                                    PolicyDocument=json.dumps(policy["PolicyDocument"]))
            self.names[rid] = p["RoleName"]


class Member:
    """A member account's forwarding path from member-account.yaml, in moto:
    the forward rule on its default bus in one region, targeting the ingest
    bus, and what its heartbeat schedule would put on that bus. The roles it
    names must exist first (MemberRoles), as in AWS, where Scheduler checks
    the schedule's role when the schedule is created."""

    def __init__(self, moto, account, ingest_bus_arn, region=REGION, parameters=None):
        self.account = account
        self.region = region
        self.events = moto.client("events", account, region)
        t = Template("member-account.yaml", account,
                     {"IngestBusArn": ingest_bus_arn, **(parameters or {})}, region=region)
        iam = moto.client("iam", account)
        named = [target["RoleArn"] for rid in t.resources("AWS::Events::Rule") for target in t.props(rid)["Targets"]
                 if "RoleArn" in target] + [t.props("HeartbeatSchedule")["Target"]["RoleArn"]]
        for arn in named:
            try:
                iam.get_role(RoleName=arn.rsplit("/", 1)[1])
            except iam.exceptions.NoSuchEntityException:
                raise RuntimeError(f"{account}: member-account.yaml names {arn}, which does not exist: "
                                   "deploy member-roles.yaml in the account first") from None
        for rid in t.resources("AWS::Events::Rule"):
            p = t.props(rid)
            targets = [{k: v for k, v in target.items() if k != "DeadLetterConfig"} for target in p["Targets"]]
            self.events.put_rule(Name=p["Name"], EventPattern=json.dumps(p["EventPattern"]), State=p["State"])
            self.events.put_targets(Rule=p["Name"], Targets=targets)
        self.forward_rule = t.name_of("ForwardRule")
        self.forward_targets = [{k: v for k, v in target.items() if k != "DeadLetterConfig"}
                                for target in t.props("ForwardRule")["Targets"]]
        self.heartbeat_target = t.props("HeartbeatSchedule")["Target"]

    def heartbeat(self):
        """Puts the event the heartbeat schedule puts (moto fires no schedules)."""
        target = self.heartbeat_target
        entry = {"Source": target["EventBridgeParameters"]["Source"],
                 "DetailType": target["EventBridgeParameters"]["DetailType"],
                 "Detail": target["Input"], "EventBusName": target["Arn"]}
        failed = self.events.put_events(Entries=[entry])["FailedEntryCount"]
        assert failed == 0, f"heartbeat of {self.account} {self.region} refused"

    def set_forwarding(self, enabled):
        """Enables or disables the forward rule. moto keeps delivering to a
        disabled rule's targets, so the targets go with the rule's state here."""
        if enabled:
            self.events.enable_rule(Name=self.forward_rule)
            self.events.put_targets(Rule=self.forward_rule, Targets=self.forward_targets)
        else:
            self.events.disable_rule(Name=self.forward_rule)
            self.events.remove_targets(Rule=self.forward_rule, Ids=[t["Id"] for t in self.forward_targets])


class Organization:
    """An AWS Organization in moto shaped like config/accounts.json: its OUs
    (from the sample's OU paths), its accounts and their tags. moto chooses
    account ids itself, so `ids` maps the sample's ids to moto's, and sample
    events are rewritten with it before they are sent."""

    def __init__(self, moto):
        self.client = moto.client("organizations")
        self.client.create_organization(FeatureSet="ALL")
        self.root = self.client.list_roots()["Roots"][0]["Id"]
        self.ous = {(): self.root}
        with open(os.path.join(ROOT, "config", "accounts.json")) as f:
            sample = json.load(f)["accounts"]
        # The management account is the organization's own (moto's default account).
        self.ids = {"111111111111": SECURITY_ACCOUNT}
        for sample_id, info in sample.items():
            if sample_id in self.ids:
                continue
            path = tuple(info.get("ouPath", "Root").split("/")[1:])
            account_id = self.add_account(info["name"], info["email"], path, info.get("tags", {}))
            self.ids[sample_id] = account_id

    def ou(self, path):
        """The id of the OU at this path of names below the root, made if missing."""
        if path not in self.ous:
            parent = self.ou(path[:-1])
            self.ous[path] = self.client.create_organizational_unit(
                ParentId=parent, Name=path[-1])["OrganizationalUnit"]["Id"]
        return self.ous[path]

    def add_account(self, name, email, path=(), tags=None):
        status = self.client.create_account(Email=email, AccountName=name)["CreateAccountStatus"]
        account_id = status["AccountId"]
        if path:
            self.move(account_id, path)
        if tags:
            self.client.tag_resource(ResourceId=account_id, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return account_id

    def move(self, account_id, path):
        [parent] = self.client.list_parents(ChildId=account_id)["Parents"]
        self.client.move_account(AccountId=account_id, SourceParentId=parent["Id"], DestinationParentId=self.ou(path))

    def rewrite(self, text):
        """Sample account ids in a line replaced by the organization's. JSON
        is rewritten value by value: an id written as a number (the messy
        fixture does) stays a number, unless moto's id starts with 0, which
        no JSON number may."""
        try:
            value = json.loads(text)
        except ValueError:
            return self._rewrite_text(text)
        return json.dumps(self._rewrite_value(value), separators=(",", ":"), ensure_ascii=False)

    def _rewrite_text(self, text):
        for sample_id, account_id in self.ids.items():
            text = text.replace(sample_id, account_id)
        return text

    def _rewrite_value(self, value):
        if isinstance(value, dict):
            return {k: self._rewrite_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite_value(v) for v in value]
        if isinstance(value, str):
            return self._rewrite_text(value)
        if isinstance(value, int) and not isinstance(value, bool) and str(value) in self.ids:
            account_id = self.ids[str(value)]
            return account_id if account_id.startswith("0") else int(account_id)
        return value


def sqs_batch(bodies, attributes=None):
    """An SQS event as Lambda delivers it, one record per (message id, body);
    `attributes` maps a message id to its message attributes as SQS's
    ReceiveMessage gives them."""
    attributes = attributes or {}

    def as_lambda(attrs):
        return {name: {"stringValue": a.get("StringValue"), "dataType": a.get("DataType", "String")}
                for name, a in (attrs or {}).items()}

    return {"Records": [{
        "messageId": mid, "receiptHandle": f"rh-{mid}", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
        "messageAttributes": as_lambda(attributes.get(mid)), "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{SECURITY_ACCOUNT}:trailrelay-buffer", "awsRegion": REGION,
    } for mid, body in bodies]}


class Function:
    """A function under `cargo lambda watch`, invoked with `cargo lambda invoke`."""

    def __init__(self, log_dir, environment, package="trailrelay-enricher"):
        self.port = free_port()
        self.log_dir = log_dir
        self.package = package
        argv = [os.path.join(VENV_BIN, "cargo-lambda"), "lambda", "watch", "-p", package,
                "-A", "127.0.0.1", "-P", str(self.port)]
        # An env file, not --env-var: that flag splits values at commas.
        env_file = os.path.join(log_dir, f"{package}.env")
        with open(env_file, "w") as f:
            for key, value in sorted(environment.items()):
                # cargo lambda refuses `KEY=`; the functions read unset and empty alike.
                if value != "":
                    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
                    f.write(f'{key}="{quoted}"\n')
        argv += ["--env-file", env_file]
        env = dict(os.environ)
        env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
        self.proc = Process(f"cargo-lambda-watch-{package}", argv, log_dir, env=env)
        started(self.proc, self.port, 120, "cargo lambda watch")

    def stop(self):
        self.proc.stop()

    def invoke(self, payload, timeout=900):
        """Invokes the function; returns (response, error text or None)."""
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=self.log_dir, delete=False) as f:
            json.dump(payload, f)
        done = subprocess.run(
            [os.path.join(VENV_BIN, "cargo-lambda"), "lambda", "invoke", self.package,
             "-A", "127.0.0.1", "-P", str(self.port), "--data-file", f.name, "-o", "json"],
            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        os.unlink(f.name)
        if done.returncode != 0:
            return None, (done.stdout + done.stderr).strip()
        return json.loads(done.stdout), None


def fixtures():
    """The bundled sample events: (line, parsed or None)."""
    path = os.path.join(ROOT, "tests", "fixtures", "events.jsonl")
    out = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            try:
                out.append((line, json.loads(line)))
            except ValueError:
                out.append((line, None))
    return out


def expected():
    with open(os.path.join(ROOT, "tests", "fixtures", "expected.json")) as f:
        return json.load(f)
