"""Every request of the data path allowed, every forgery denied: judged by an
IAM policy evaluator (@cloud-copilot/iam-simulate), not by reading.

The requests come from the code: tests/iam/aws-calls.json lists each
adapter call with its IAM actions and each function's and command's calls
(cli/src/aws_calls.rs keeps it equal to the code). Every (principal, call)
there must have a flow below, which says which resources and context keys
AWS would see; a new adapter call without a flow, or a flow the templates
refuse, fails `make test`. Beside them: what services do on our behalf
(EventBridge with the key and the queues, Lambda and Scheduler assuming
roles, Firehose, log delivery) and the attacks the design claims to stop.
docs/aws-requirements.md names the flows each rule is judged by.
"""
import glob
import json
import os
import re
import subprocess

import pytest

from iamflows import (CALLS, ORGANIZATION_ID, Deployed, Request, judge, role_context, service_context,
                      session_arn)
from localaws import ROOT, categories

SECURITY = "123456789012"
MEMBER = "111122223333"
MANAGEMENT = "999988887777"
LOG_ARCHIVE = "555566667777"
CONSUMER = "444455556666"
OUTSIDER = "210987654321"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
CATEGORIES = categories()
TRAIL_BUCKET = "org-trail-log-archive"
TRAIL_KEY = f"arn:aws:kms:{REGION}:{LOG_ARCHIVE}:key/0b7d3c1e-5a4f-4e2b-9c8d-7f6e5d4c3b2a"
TRAIL_READ_ROLE = f"arn:aws:iam::{LOG_ARCHIVE}:role/trail-reader"
ORGANIZATIONS_ROLE = f"arn:aws:iam::{MANAGEMENT}:role/trailrelay-organizations-reader"
OPERATOR = f"arn:aws:iam::{SECURITY}:role/SecurityOperator"
ADMIN_POLICY = [{"name": "AdministratorAccess", "policy": {
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]
API_CALL = "AWS API Call via CloudTrail"

COMMON = {"OrganizationId": ORGANIZATION_ID, "ConsumerAccountIds": [CONSUMER], "EnrolledRegions": f"{REGION},{OTHER_REGION}"}
DEPLOYMENTS = {
    # Buffered, the trail read directly and under its own key, put-back on the queue.
    "buffered": {**COMMON, "Mode": "buffered", "TrailBucket": TRAIL_BUCKET, "TrailKeyPrefix": "org",
                 "TrailKmsKeyArn": TRAIL_KEY},
    # Direct, the trail read through the log-archive account's role, Organizations through a role.
    "direct": {**COMMON, "Mode": "direct", "TrailBucket": TRAIL_BUCKET, "TrailReadRoleArn": TRAIL_READ_ROLE,
               "OrganizationsRoleArn": ORGANIZATIONS_ROLE},
}


def security(name):
    return Deployed("template.yaml", SECURITY, DEPLOYMENTS[name])


def member_roles():
    """The member account's roles (member-roles.yaml), made once for every region."""
    return Deployed("member-roles.yaml", MEMBER, {
        "IngestBusArn": f"arn:aws:events:{REGION}:{SECURITY}:event-bus/trailrelay-ingest",
        "SecurityAccountId": SECURITY})


def consumer():
    return Deployed("consumer-account.yaml", CONSUMER, {"SecurityAccountId": SECURITY, "Category": "identity"})


def guardrail_scps():
    t = Deployed("organization-guardrails.yaml", MANAGEMENT, {
        "TargetIds": ["ou-ex12-members"],
        "OrganizationTrailArn": f"arn:aws:cloudtrail:{REGION}:{MANAGEMENT}:trail/org-trail"})
    [policy] = t.resources("AWS::Organizations::Policy")
    return [t.props(policy)["Content"]]


def bus_arn(account, name, region=REGION):
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def key_of(t):
    return t.arn_of("RelayKey")


# --- the principals' requests -------------------------------------------------

class As:
    """A principal of one of our templates, making its requests."""

    def __init__(self, t, role_id, scps=(), organization=True):
        self.t = t
        self.role_arn = t.arn_of(role_id)
        self.principal = session_arn(self.role_arn)
        self.identity = t.identity_policies(role_id)
        self.scps = list(scps)
        self.context = role_context(self.role_arn, t.account, organization)

    def request(self, name, action, resource, account=None, context=None, resource_policy=None, unsafe=False):
        return Request(name, self.principal, action, resource, account or self.t.account,
                       {**self.context, **(context or {})}, self.identity, resource_policy, self.scps, unsafe)

    def through(self, service, key_arn, key_policy, encryption_context, actions=("kms:Decrypt",), account=None):
        """The key calls a service makes for this principal (kms:ViaService)."""
        return [self.request(f"{action} through {service}", action, key_arn, account,
                             {"kms:ViaService": f"{service}.{self.t.region}.amazonaws.com",
                              "kms:CallerAccount": self.t.account, **encryption_context},
                             key_policy, unsafe=True)
                for action in actions]


def s3_context(bucket, key):
    return {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{bucket}/{key}"}


def entries(*pairs):
    """The context keys of a PutEvents call of these (source, detail-type)
    entries. events:source and events:detail-type are sets (ArrayOfString in
    the Service Authorization Reference), one value per entry: a
    single-valued operator never matches a set, so a policy must use
    ForAllValues (AWS's example for this bus does); the core judges them as
    given, each a list."""
    return {"events:source": [s for s, _ in pairs], "events:detail-type": [d for _, d in pairs]}


def put_events(p, bus, source, detail_type, account=None, extra=None, policy=None):
    # A list of detail-types is a batch of entries, all of the source.
    detail_types = detail_type if isinstance(detail_type, list) else [detail_type]
    return p.request(f"PutEvents {' + '.join(detail_types)} on {bus.split('/')[-1]}", "events:PutEvents", bus,
                     account, {**entries(*[(source, d) for d in detail_types]), **(extra or {})}, policy,
                     unsafe=True)


def directory_read(p, t):
    bucket = t.name_of("DirectoryBucket")
    return [p.request("GetObject latest.json", "s3:GetObject", f"arn:aws:s3:::{bucket}/latest.json",
                      resource_policy=t.bucket_policy("DirectoryBucket")),
            *p.through("s3", key_of(t), t.key_policy(), s3_context(bucket, "latest.json"))]


def flows_enricher(t, api):
    p = As(t, "EnricherRole")
    source = t.params["EventSource"]
    if api == "events:PutEvents":
        return [put_events(p, bus_arn(SECURITY, f"trailrelay-{c}"), source, API_CALL,
                           policy=t.bus_policy(f"trailrelay-{c}")) for c in CATEGORIES]
    if api == "s3:GetObject":
        return directory_read(p, t)
    if api == "dynamodb:UpdateItem":
        return [p.request("UpdateItem on the paths table", "dynamodb:UpdateItem", t.arn_of("PathsTable"))]


def flows_path_check(t, api):
    p = As(t, "PathCheckRole")
    if api == "events:PutEvents":
        return [put_events(p, bus_arn(SECURITY, "trailrelay-audit"), t.params["EventSource"], dt,
                           policy=t.bus_policy("trailrelay-audit"))
                for dt in ("trailrelay Path Silent", "trailrelay Path Restored")]
    if api == "s3:GetObject":
        return directory_read(p, t)
    if api in ("dynamodb:Scan", "dynamodb:UpdateItem"):
        return [p.request(f"{api} on the paths table", api, t.arn_of("PathsTable"))]


def flows_account_sync(t, api):
    p = As(t, "AccountSyncRole")
    via_role = bool(t.params.get("OrganizationsRoleArn"))
    org = f"arn:aws:organizations::{MANAGEMENT}"
    resources = {
        "organizations:ListRoots": "*",
        "organizations:ListOrganizationalUnitsForParent": f"{org}:root/{ORGANIZATION_ID}/r-ex12",
        "organizations:ListAccountsForParent": f"{org}:ou/{ORGANIZATION_ID}/ou-ex12-members",
        "organizations:ListTagsForResource": f"{org}:account/{ORGANIZATION_ID}/{MEMBER}",
    }
    if api in resources:
        if via_role:
            return []  # made with the management account's role, not ours (its policy is the customer's)
        return [p.request(api, api, resources[api], MANAGEMENT if resources[api] != "*" else SECURITY,
                          # Organizations answers for the management account to a delegated administrator.
                          resource_policy={"Version": "2012-10-17", "Statement": [{
                              "Effect": "Allow", "Principal": {"AWS": SECURITY}, "Action": api,
                              "Resource": "*"}]} if resources[api] != "*" else None)]
    if api == "s3:PutObject":
        bucket = t.name_of("DirectoryBucket")
        return [r for key in ("latest.json", "snapshots/2026-12-07T15:00:00Z.json") for r in [
            p.request(f"PutObject {key}", "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}",
                      context={"s3:x-amz-server-side-encryption": "aws:kms"},
                      resource_policy=t.bucket_policy("DirectoryBucket")),
            *p.through("s3", key_of(t), t.key_policy(), s3_context(bucket, key), ("kms:GenerateDataKey",))]]
    if api == "sts:AssumeRole":
        if not via_role:
            return []
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": p.role_arn},
                                                         "Action": "sts:AssumeRole"}]}
        return [p.request("AssumeRole the Organizations reader", "sts:AssumeRole", ORGANIZATIONS_ROLE,
                          MANAGEMENT, resource_policy=trust)]


def flows_reconciler(t, api):
    p = As(t, "ReconcilerRole")
    prefix = t.params.get("TrailKeyPrefix") or ""
    logs = f"{prefix + '/' if prefix else ''}AWSLogs/{ORGANIZATION_ID}/"
    log_file = f"{logs}{MEMBER}/CloudTrail/{REGION}/2026/12/07/{MEMBER}_CloudTrail_{REGION}_20261207T1500Z_x.json.gz"
    copy = t.name_of("EnrichedCopyBucket")
    copy_object = "enriched/identity/2026/12/07/15/trailrelay-identity-copy-1.gz"
    direct_read = not t.params.get("TrailReadRoleArn")
    # The log-archive account's bucket policy, as docs/reconcile.md asks for it.
    trail_bucket_policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": p.role_arn}, "Action": ["s3:ListBucket", "s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{TRAIL_BUCKET}", f"arn:aws:s3:::{TRAIL_BUCKET}/{logs}*"]}]}
    if api == "s3:ListObjectsV2":
        out = [p.request("ListObjectsV2 the copy's hour", "s3:ListBucket", f"arn:aws:s3:::{copy}",
                         context={"s3:prefix": "enriched/identity/2026/12/07/15/"},
                         resource_policy=t.bucket_policy("EnrichedCopyBucket"))]
        if direct_read:
            out.append(p.request("ListObjectsV2 a path's day folder", "s3:ListBucket",
                                 f"arn:aws:s3:::{TRAIL_BUCKET}", LOG_ARCHIVE,
                                 {"s3:prefix": f"{logs}{MEMBER}/CloudTrail/{REGION}/2026/12/07/"},
                                 trail_bucket_policy))
        return out
    if api == "s3:GetObject":
        out = [p.request("GetObject a copy object", "s3:GetObject", f"arn:aws:s3:::{copy}/{copy_object}",
                         resource_policy=t.bucket_policy("EnrichedCopyBucket")),
               *p.through("s3", key_of(t), t.key_policy(), s3_context(copy, copy_object)),
               *directory_read(p, t)]
        if direct_read:
            out.append(p.request("GetObject a trail log file", "s3:GetObject",
                                 f"arn:aws:s3:::{TRAIL_BUCKET}/{log_file}", LOG_ARCHIVE,
                                 resource_policy=trail_bucket_policy))
            if t.params.get("TrailKmsKeyArn"):
                # CloudTrail's decrypt statement for our role, in the trail key's policy.
                trail_key_policy = {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"AWS": p.role_arn}, "Action": "kms:Decrypt",
                    "Resource": "*", "Condition": {"Null": {"kms:EncryptionContext:aws:cloudtrail:arn": "false"}}}]}
                out += p.through("s3", TRAIL_KEY, trail_key_policy,
                                 {"kms:EncryptionContext:aws:cloudtrail:arn":
                                  f"arn:aws:cloudtrail:{REGION}:{MANAGEMENT}:trail/org-trail"},
                                 account=LOG_ARCHIVE)
        return out
    if api == "events:PutEvents":
        return [put_events(p, bus_arn(SECURITY, "trailrelay-audit"), t.params["EventSource"],
                           "trailrelay Reconciliation Report", policy=t.bus_policy("trailrelay-audit"))]
    if api == "sqs:SendMessageBatch":
        if t.params["Mode"] != "buffered":
            return []
        return [p.request("SendMessage the put-back", "sqs:SendMessage", t.arn_of("BufferQueue"),
                          resource_policy=t.queue_policy("BufferQueue")),
                *p.through("sqs", key_of(t), t.key_policy(),
                           {"kms:EncryptionContext:aws:sqs:arn": t.arn_of("BufferQueue")},
                           ("kms:GenerateDataKey",))]
    if api == "lambda:Invoke":
        if t.params["Mode"] != "direct":
            return []
        return [p.request("Invoke the enricher with the put-back", "lambda:InvokeFunction", t.arn_of("Enricher"))]
    if api == "sts:AssumeRole":
        if direct_read:
            return []
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": p.role_arn},
                                                         "Action": "sts:AssumeRole"}]}
        return [p.request("AssumeRole the log-archive reader", "sts:AssumeRole", TRAIL_READ_ROLE, LOG_ARCHIVE,
                          resource_policy=trust)]


def flows_doctor_member(t, api):
    out = []
    for region in (REGION, OTHER_REGION):
        m = member_roles()
        p = As(m, "DoctorRole", guardrail_scps())
        forward_rule = f"arn:aws:events:{region}:{MEMBER}:rule/trailrelay-forward"
        shadow_trail = f"arn:aws:cloudtrail:{region}:{MANAGEMENT}:trail/org-trail"
        resources = {
            "iam:GetRole": m.arn_of("ForwarderRole"),
            "events:DescribeRule": forward_rule, "events:ListTargetsByRule": forward_rule,
            "cloudtrail:DescribeTrails": "*",
            # A shadow trail answers in the member account for the organization's trail.
            "cloudtrail:GetTrailStatus": shadow_trail, "cloudtrail:GetEventSelectors": shadow_trail,
            "cloudwatch:GetMetricStatistics": "*",
        }
        resources["iam:ListRolePolicies"] = resources["iam:GetRolePolicy"] = resources["iam:GetRole"]
        out.append(p.request(f"{api} in {region}", CALLS["adapters"][api][0], resources[api], MEMBER))
    return out


def flows_doctor_consumer(t, api):
    c = consumer()
    p = As(c, "ConsumerDoctorRole")
    return [p.request("DescribeEventBus the consumer bus", "events:DescribeEventBus",
                      bus_arn(CONSUMER, c.props("ConsumerBus")["Name"]), CONSUMER)]


def flows_send_test_event_member(t, api):
    m = member_roles()
    p = As(m, "DoctorRole", guardrail_scps())
    return [put_events(p, bus_arn(MEMBER, "default", region), m.params["ControlSource"], "trailrelay Test Event",
                       MEMBER) for region in (REGION, OTHER_REGION)]


FLOWS = {
    "enricher": flows_enricher,
    "path-check": flows_path_check,
    "account-sync": flows_account_sync,
    "reconciler": flows_reconciler,
    "doctor-member": flows_doctor_member,
    "doctor-consumer": flows_doctor_consumer,
    "send-test-event-member": flows_send_test_event_member,
}


def call_requests():
    out = []
    for deployment in DEPLOYMENTS:
        t = security(deployment)
        for principal, apis in CALLS["principals"].items():
            for api in apis:
                requests = FLOWS[principal](t, api)
                assert requests is not None, f"{principal} calls {api}: no flow says what AWS would see"
                out += [(f"{deployment}: {principal}: {r.name}", r) for r in requests]
    return out


# --- what services do on our behalf -----------------------------------------

def service_requests():
    out = []
    for deployment in DEPLOYMENTS:
        t = security(deployment)
        key, key_policy = key_of(t), t.key_policy()
        ingest_rule = t.arn_of("IngestRule")

        def svc(name, principal, action, resource, context, policy, unsafe=False, account=SECURITY):
            out.append((f"{deployment}: {name}", Request(name, principal, action, resource, account, context,
                                                         [], policy, [], unsafe)))

        for rid, role in t.resources("AWS::IAM::Role").items():
            [service] = [s for st in t.trust_policy(rid)["Statement"] for s in
                         ([st["Principal"]["Service"]] if isinstance(st["Principal"].get("Service"), str)
                          else st["Principal"].get("Service", []))] or [None]
            if service:
                # Firehose names the account as the external id (controlling-access).
                external = {"sts:ExternalId": SECURITY} if service == "firehose.amazonaws.com" else {}
                svc(f"{service} assumes {rid}", service, "sts:AssumeRole", t.arn_of(rid),
                    {**service_context(source_account=SECURITY), **external}, t.trust_policy(rid))
        for c in ["ingest", *CATEGORIES]:
            bus = bus_arn(SECURITY, f"trailrelay-{c}")
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                svc(f"EventBridge {action} for the {c} bus", "events.amazonaws.com", action, key,
                    {**service_context(bus, SECURITY), "kms:EncryptionContext:aws:events:event-bus:arn": bus},
                    key_policy, unsafe=True)
        svc("EventBridge DescribeKey", "events.amazonaws.com", "kms:DescribeKey", key,
            service_context(source_account=SECURITY), key_policy)
        if t.params["Mode"] == "buffered":
            svc("the ingest rule SendMessage to the buffer queue", "events.amazonaws.com", "sqs:SendMessage",
                t.arn_of("BufferQueue"), service_context(ingest_rule, SECURITY), t.queue_policy("BufferQueue"))
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                svc(f"the ingest rule {action} for the buffer queue", "events.amazonaws.com", action, key,
                    service_context(ingest_rule, SECURITY), key_policy)
        else:
            permission = t.props("EnricherInvokePermission")
            policy = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": permission["Principal"]},
                "Action": permission["Action"], "Resource": permission["FunctionName"],
                "Condition": {"ArnLike": {"AWS:SourceArn": permission["SourceArn"]}}}]}
            svc("the ingest rule invokes the enricher", "events.amazonaws.com", "lambda:InvokeFunction",
                t.arn_of("Enricher"), service_context(ingest_rule, SECURITY), policy)
        svc("the ingest rule's dead letters", "events.amazonaws.com", "sqs:SendMessage",
            t.arn_of("IngestDeadLetterQueue"), service_context(ingest_rule, SECURITY),
            t.queue_policy("IngestDeadLetterQueue"))
        for c in CATEGORIES:
            bus = bus_arn(SECURITY, f"trailrelay-{c}")
            svc(f"the {c} bus's dead letters", "events.amazonaws.com", "sqs:SendMessage",
                t.arn_of("BusDeadLetterQueue"), service_context(bus, SECURITY), t.queue_policy("BusDeadLetterQueue"))
        # The copy: EventBridge puts through its role, Firehose writes through its own.
        copy_role = As(t, "EnrichedCopyTargetRole")
        for c in CATEGORIES:
            stream = t.arn_of(f"{c.capitalize()}CopyStream")
            out.append((f"{deployment}: the {c} copy rule PutRecordBatch",
                        copy_role.request("PutRecordBatch", "firehose:PutRecordBatch", stream)))
        delivery = As(t, "EnrichedCopyDeliveryRole")
        copy = t.name_of("EnrichedCopyBucket")
        out.append((f"{deployment}: Firehose PutObject on the copy",
                    delivery.request("PutObject", "s3:PutObject", f"arn:aws:s3:::{copy}/enriched/identity/x.gz",
                                     resource_policy=t.bucket_policy("EnrichedCopyBucket"))))
        out += [(f"{deployment}: Firehose {r.name}", r) for r in delivery.through(
            "s3", key, key_policy, s3_context(copy, "enriched/identity/x.gz"), ("kms:GenerateDataKey",))]
    # Member side: EventBridge assumes the forwarder role, Scheduler the heartbeat role; both put.
    m = member_roles()
    forward_rule = f"arn:aws:events:{REGION}:{MEMBER}:rule/trailrelay-forward"
    out.append(("member: EventBridge assumes the forwarder role", Request(
        "assume", "events.amazonaws.com", "sts:AssumeRole", m.arn_of("ForwarderRole"), MEMBER,
        service_context(forward_rule, MEMBER), [], m.trust_policy("ForwarderRole"))))
    out.append(("member: Scheduler assumes the heartbeat role", Request(
        "assume", "scheduler.amazonaws.com", "sts:AssumeRole", m.arn_of("HeartbeatRole"), MEMBER,
        service_context(f"arn:aws:scheduler:{REGION}:{MEMBER}:schedule/default/trailrelay-heartbeat", MEMBER),
        [], m.trust_policy("HeartbeatRole"))))
    heartbeat = As(m, "HeartbeatRole", guardrail_scps())
    out.append(("member: the heartbeat on the default bus", put_events(
        heartbeat, bus_arn(MEMBER, "default"), m.params["ControlSource"], "trailrelay Heartbeat", MEMBER)))
    t = security("buffered")
    ingest = bus_arn(SECURITY, "trailrelay-ingest")
    for region in (REGION, OTHER_REGION):
        for source, detail_type in (("aws.s3", API_CALL), (m.params["ControlSource"], "trailrelay Heartbeat"),
                                    (m.params["ControlSource"], "trailrelay Test Event")):
            forwarder = As(m, "ForwarderRole", guardrail_scps())
            out.append((f"member: the forward rule in {region} puts {detail_type}", put_events(
                forwarder, ingest, source, detail_type, SECURITY,
                {"aws:SourceArn": f"arn:aws:events:{region}:{MEMBER}:rule/trailrelay-forward",
                 "aws:SourceAccount": MEMBER}, t.bus_policy("trailrelay-ingest"))))
    # The doctor assumes its roles from the security account.
    for label, doc, role in (("member", m, "DoctorRole"), ("consumer", consumer(), "ConsumerDoctorRole")):
        operator_policy = [{"name": "doctor", "policy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": doc.arn_of(role)}]}}]
        out.append((f"the doctor assumes the {label} doctor role", Request(
            "assume", session_arn(OPERATOR), "sts:AssumeRole", doc.arn_of(role), doc.account,
            role_context(OPERATOR, SECURITY), operator_policy, doc.trust_policy(role))))
    return out


# --- what must be refused ------------------------------------------------------

def attack_requests():
    out = []
    t = security("buffered")
    m = member_roles()
    ingest = bus_arn(SECURITY, "trailrelay-ingest")
    ingest_policy = t.bus_policy("trailrelay-ingest")
    control = m.params["ControlSource"]
    forward_rule = f"arn:aws:events:{REGION}:{MEMBER}:rule/trailrelay-forward"

    def attacker(name, role_arn, account, organization=True, identity=ADMIN_POLICY, scps=()):
        return name, session_arn(role_arn), role_context(role_arn, account, organization), identity, list(scps)

    def attack(label, who, action, resource, account, context, policy):
        name, principal, base, identity, scps = who
        out.append((f"{name}: {label}", Request(label, principal, action, resource, account,
                                                {**base, **context}, identity, policy, scps,
                                                unsafe="events:source" in context)))

    member_admin = attacker("a member account's administrator", f"arn:aws:iam::{MEMBER}:role/Admin", MEMBER,
                            scps=guardrail_scps())
    for detail_type, source in ((API_CALL, "aws.s3"), ("trailrelay Heartbeat", control)):
        attack(f"PutEvents {detail_type} on the ingest bus", member_admin, "events:PutEvents", ingest, SECURITY,
               entries((source, detail_type)), ingest_policy)
    forwarder = As(m, "ForwarderRole")
    out.append(("the forwarder role through another rule puts on the ingest bus", put_events(
        forwarder, ingest, control, "trailrelay Heartbeat", SECURITY,
        {"aws:SourceArn": f"arn:aws:events:{REGION}:{MEMBER}:rule/my-own-rule"}, ingest_policy)))
    outsider = attacker("a principal outside the organization", f"arn:aws:iam::{OUTSIDER}:role/trailrelay-forwarder",
                        OUTSIDER, organization=False)
    attack("PutEvents on the ingest bus", outsider, "events:PutEvents", ingest, SECURITY,
           {**entries((control, "trailrelay Heartbeat")),
            "aws:SourceArn": f"arn:aws:events:{REGION}:{OUTSIDER}:rule/trailrelay-forward"}, ingest_policy)
    security_admin = attacker("a security-account principal allowed PutEvents", f"arn:aws:iam::{SECURITY}:role/Admin",
                              SECURITY)
    for detail_type in ("trailrelay Heartbeat", "trailrelay Test Event"):
        attack(f"PutEvents {detail_type} on the ingest bus", security_admin, "events:PutEvents", ingest, SECURITY,
               entries((control, detail_type)), ingest_policy)
    for c in CATEGORIES:
        attack(f"PutEvents on the {c} bus", security_admin, "events:PutEvents", bus_arn(SECURITY, f"trailrelay-{c}"),
               SECURITY, entries(("trailrelay", API_CALL)),
               t.bus_policy(f"trailrelay-{c}"))
    # The doctor's role may send the test event, never a heartbeat.
    doctor = As(m, "DoctorRole", guardrail_scps())
    out.append(("the member doctor role sends a heartbeat", put_events(
        doctor, bus_arn(MEMBER, "default"), control, "trailrelay Heartbeat", MEMBER)))
    # Nor one beside a test event in the same call (a condition on any one
    # entry, rather than on all, would let it through).
    out.append(("the member doctor role sends a heartbeat beside a test event", put_events(
        doctor, bus_arn(MEMBER, "default"), control, ["trailrelay Test Event", "trailrelay Heartbeat"], MEMBER)))
    heartbeat = As(m, "HeartbeatRole", guardrail_scps())
    out.append(("the heartbeat role puts a CloudTrail-looking event on the default bus", put_events(
        heartbeat, bus_arn(MEMBER, "default"), "aws.iam", API_CALL, MEMBER)))
    # A consumer account's rule on a category bus may target only its own bus.
    consumer_admin = attacker("a consumer account's administrator", f"arn:aws:iam::{CONSUMER}:role/Admin", CONSUMER)
    for target in (f"arn:aws:sqs:{REGION}:{OUTSIDER}:steal", f"arn:aws:events:{REGION}:{OUTSIDER}:event-bus/steal",
                   f"arn:aws:sqs:{REGION}:{CONSUMER}:queue"):
        attack(f"PutTargets {target}", consumer_admin, "events:PutTargets",
               f"arn:aws:events:{REGION}:{SECURITY}:rule/trailrelay-identity/mine", SECURITY,
               {"events:TargetArn": [target], "events:creatorAccount": CONSUMER}, t.bus_policy("trailrelay-identity"))
    # A member administrator cannot change the forwarding path, nor make itself the exempt role.
    for action in ("events:DeleteRule", "events:DisableRule", "events:PutTargets", "events:RemoveTargets"):
        attack(f"{action} on the forward rule", member_admin, action, forward_rule, MEMBER, {}, None)
    for action in ("iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole"):
        attack(f"{action} on the forwarder role", member_admin, action, f"arn:aws:iam::{MEMBER}:role/trailrelay-forwarder",
               MEMBER, {}, None)
    # Nor hand the forwarder or heartbeat role to a rule or schedule of its
    # own, nor rewrite the doctor role (which may put test events).
    for role, service in (("trailrelay-forwarder", "events.amazonaws.com"),
                          ("trailrelay-heartbeat", "scheduler.amazonaws.com")):
        attack(f"iam:PassRole {role} to {service}", member_admin, "iam:PassRole",
               f"arn:aws:iam::{MEMBER}:role/{role}", MEMBER, {"iam:PassedToService": service}, None)
    attack("iam:PutRolePolicy on the doctor role", member_admin, "iam:PutRolePolicy",
           f"arn:aws:iam::{MEMBER}:role/trailrelay-doctor", MEMBER, {}, None)
    # Nor put a heartbeat on its default bus, whence the forward rule would
    # carry it to the ingest bus as its account's proof of life, alone or
    # beside an event of its own.
    for sources in ([control], ["com.example.app", control]):
        attack(f"PutEvents {' + '.join(sources)} on its default bus", member_admin, "events:PutEvents",
               bus_arn(MEMBER, "default"), MEMBER,
               entries(*[(source, "trailrelay Heartbeat") for source in sources]), None)
    # Nor make a role of the path's names where one is missing (it would be
    # exempt as that name), nor hide the forward rule's failures.
    for role in ("trailrelay-doctor", "trailrelay-heartbeat", "trailrelay-forwarder"):
        attack(f"iam:CreateRole {role}", member_admin, "iam:CreateRole", f"arn:aws:iam::{MEMBER}:role/{role}",
               MEMBER, {}, None)
    attack("events:EnableRule on the forward rule", member_admin, "events:EnableRule", forward_rule, MEMBER, {}, None)
    attack("scheduler:CreateSchedule of the heartbeat's name", member_admin, "scheduler:CreateSchedule",
           f"arn:aws:scheduler:{OTHER_REGION}:{MEMBER}:schedule/default/trailrelay-heartbeat", MEMBER, {}, None)
    dlq = f"arn:aws:sqs:{REGION}:{MEMBER}:trailrelay-forward-dlq"
    for action in ("sqs:DeleteQueue", "sqs:PurgeQueue", "sqs:SetQueueAttributes", "sqs:ReceiveMessage",
                   "sqs:StartMessageMoveTask"):
        attack(f"{action} on the forward DLQ", member_admin, action, dlq, MEMBER, {}, None)
    for action in ("cloudwatch:DeleteAlarms", "cloudwatch:SetAlarmState", "cloudwatch:PutAlarmMuteRule"):
        attack(f"{action} on the forward DLQ's alarm", member_admin, action,
               f"arn:aws:cloudwatch:{REGION}:{MEMBER}:alarm:trailrelay-forward-dlq-not-empty", MEMBER, {}, None)
    exempt = f"arn:aws:iam::{MEMBER}:role/stacksets-exec-0123456789abcdef"
    for action in ("iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:AttachRolePolicy"):
        attack(f"{action} on a role named like the StackSets execution role", member_admin, action, exempt, MEMBER,
               {}, None)
    return out


# --- the tests -------------------------------------------------------------------

def decide(pairs):
    return dict(zip([name for name, _ in pairs], judge([r for _, r in pairs])))


def test_every_call_of_every_function_and_command_is_allowed():
    pairs = call_requests()
    decisions = decide(pairs)
    refused = {n: d for n, d in decisions.items() if d["result"] != "Allowed"}
    assert not refused, json.dumps(refused, indent=1)[:6000]
    ignored = {n: d["ignored"] for n, d in decisions.items() if d.get("ignored")}
    assert not ignored, f"context keys the evaluator dropped (the request would be judged without them): {ignored}"
    # Every principal made requests, in at least one deployment.
    for principal in CALLS["principals"]:
        assert any(f": {principal}: " in n for n in decisions), principal


def test_what_services_do_on_our_behalf_is_allowed():
    decisions = decide(service_requests())
    refused = {n: d for n, d in decisions.items() if d["result"] != "Allowed"}
    assert not refused, json.dumps(refused, indent=1)[:6000]


def test_every_forgery_the_design_claims_to_stop_is_denied():
    decisions = decide(attack_requests())
    allowed = {n: d for n, d in decisions.items() if d["result"] not in ("ExplicitlyDenied", "ImplicitlyDenied")}
    assert not allowed, json.dumps(allowed, indent=1)[:6000]


def sdk_operations():
    """Each SDK crate's operations (its src/operation/ modules), by service prefix."""
    host = re.search(r"host: (\S+)", subprocess.run(["rustc", "-vV"], capture_output=True, text=True,
                                                     check=True).stdout).group(1)
    metadata = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1", "--filter-platform", host],
                                         cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    prefixes = {"eventbridge": "events", "cloudwatch": "cloudwatch"}
    out = {}
    for package in metadata["packages"]:
        m = re.fullmatch(r"aws-sdk-(\w+)", package["name"])
        if m:
            folder = os.path.join(os.path.dirname(package["manifest_path"]), "src", "operation")
            out[prefixes.get(m.group(1), m.group(1))] = {os.path.basename(p) for p in glob.glob(f"{folder}/*")
                                                         if os.path.isdir(p)}
    return out


def pascal(snake):
    return "".join(w.capitalize() if w != "v2" else "V2" for w in snake.split("_"))


def test_every_sdk_operation_an_adapter_calls_names_its_iam_actions():
    """A call added to an adapter without its entry in adapters::calls (and so
    without a flow) fails here."""
    operations = sdk_operations()
    modules = {"cloudtrail": "cloudtrail", "cloudwatch": "cloudwatch", "dynamodb": "dynamodb", "ec2": "ec2",
               "eventbridge": "events", "iam": "iam", "kms": "kms", "lambda": "lambda",
               "organizations": "organizations", "s3": "s3", "sqs": "sqs", "lib": "sts"}
    called = set()
    for path in glob.glob(os.path.join(ROOT, "adapters", "src", "*.rs")):
        module = os.path.basename(path)[:-3]
        if module == "calls":
            continue
        service = modules.get(module)
        assert service in operations, f"adapters/src/{module}.rs: name its service here (an SDK crate it calls)"
        text = open(path).read()
        for op in set(re.findall(r"\.\s*([a-z][a-z0-9_]*)\(\)", text)) & operations[service]:
            called.add(f"{service}:{pascal(op)}")
    called.add("sts:AssumeRole")  # aws-config's AssumeRoleProvider, in lib.rs's assume_role
    assert called, "no SDK operation found in adapters/src: the scan is broken"
    missing = sorted(called - set(CALLS["adapters"]))
    assert not missing, f"adapter calls without their IAM actions in adapters/src/calls.rs: {missing}"
    unused = sorted(set(CALLS["adapters"]) - called)
    assert not unused, f"adapters/src/calls.rs lists calls no adapter makes: {unused}"


# Lambda creates a VPC function's network interfaces with the function's own
# role: the actions of AWSLambdaVPCAccessExecutionRole (the managed policy's
# page), ec2:DescribeSubnets among them.
LAMBDA_VPC_ACTIONS = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                      "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]


def test_in_a_vpc_lambda_may_manage_each_functions_network_interfaces():
    t = Deployed("template.yaml", SECURITY, {**DEPLOYMENTS["buffered"], "VpcId": "vpc-0123456789abcdef0",
                                             "SubnetIds": ["subnet-0123456789abcdef0"],
                                             "RouteTableIds": ["rtb-0123456789abcdef0"]})
    in_vpc = [rid for rid in t.resources("AWS::Serverless::Function") if "VpcConfig" in t.props(rid)]
    assert in_vpc, "no function runs in the VPC"
    pairs = []
    for function in in_vpc:
        role = t.doc["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
        p = As(t, role)
        pairs += [(f"{function}: {action}", p.request(action, action, "*")) for action in LAMBDA_VPC_ACTIONS]
    refused = {n: d for n, d in decide(pairs).items() if d["result"] != "Allowed"}
    assert not refused, refused


def test_the_tamper_alerts_may_publish_to_an_encrypted_topic_in_another_account_through_sns_only():
    topic = f"arn:aws:sns:{REGION}:{OUTSIDER}:security-alarms"
    topic_key = f"arn:aws:kms:{REGION}:{OUTSIDER}:key/1a2b3c4d-1a2b-1a2b-1a2b-1a2b3c4d5e6f"
    t = Deployed("template.yaml", SECURITY, {**DEPLOYMENTS["buffered"], "AlarmTopicArn": topic,
                                             "AlarmTopicKmsKeyArn": topic_key})
    p = As(t, "AlarmTopicRole")
    # What docs/deploy.md asks of the topic's account: the topic and its key admit the role.
    topic_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": p.role_arn},
                                                            "Action": "sns:Publish", "Resource": topic}]}
    key_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": p.role_arn},
                                                          "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                                                          "Resource": "*"}]}
    allowed = [("publish", p.request("Publish", "sns:Publish", topic, OUTSIDER, resource_policy=topic_policy)),
               *[(r.name, r) for r in p.through("sns", topic_key, key_policy, {}, ("kms:GenerateDataKey",
                                                                                  "kms:Decrypt"), OUTSIDER)]]
    assert {n: d["result"] for n, d in decide(allowed).items()} == {n: "Allowed" for n, _ in allowed}
    # Not directly: the role may use the key only through SNS.
    direct = p.request("Decrypt directly", "kms:Decrypt", topic_key, OUTSIDER, resource_policy=key_policy)
    assert judge([direct])[0]["result"] != "Allowed"


# The calls CloudFormation's AWS::Events::Rule handlers make for a consumer's
# subscription rule on a category bus (the resource type's schema: create,
# read, update, delete), tags included (docs/consumers.md, the deployer's policy).
RULE_HANDLER_CALLS = ["events:PutRule", "events:PutTargets", "events:DescribeRule", "events:TagResource",
                      "events:ListTargetsByRule", "events:ListTagsForResource", "events:RemoveTargets",
                      "events:UntagResource", "events:DeleteRule"]


def test_a_consumer_may_manage_its_own_subscription_rule_and_no_other():
    t = security("buffered")
    deployer = (f"arn:aws:iam::{CONSUMER}:role/Deployer", CONSUMER)
    consumer_bus = bus_arn(CONSUMER, "trailrelay-consumer")
    # consumer-account.yaml names its rule <account>-<category>.
    ours = f"arn:aws:events:{REGION}:{SECURITY}:rule/trailrelay-identity/{CONSUMER}-identity"
    theirs = f"arn:aws:events:{REGION}:{SECURITY}:rule/trailrelay-identity/trailrelay-identity-copy"

    def call(action, rule, creator):
        context = {**role_context(*deployer), "events:creatorAccount": creator}
        if action == "events:PutTargets":
            context["events:TargetArn"] = [consumer_bus]
        return Request(action, session_arn(deployer[0]), action, rule, SECURITY, context, ADMIN_POLICY,
                       t.bus_policy("trailrelay-identity"))

    allowed = [(f"its own rule: {a}", call(a, ours, CONSUMER)) for a in RULE_HANDLER_CALLS]
    refused = {n: d for n, d in decide(allowed).items() if d["result"] != "Allowed"}
    assert not refused, refused
    denied = [(f"the security account's rule: {a}", call(a, theirs, SECURITY)) for a in RULE_HANDLER_CALLS]
    let_through = {n: d for n, d in decide(denied).items() if d["result"] == "Allowed"}
    assert not let_through, let_through
    # Nor create the rule another consumer's stack is about to: before it
    # exists there is no events:creatorAccount, only its name to go by.
    another = f"arn:aws:events:{REGION}:{SECURITY}:rule/trailrelay-identity/{OUTSIDER}-identity"
    squat = Request("PutRule", session_arn(deployer[0]), "events:PutRule", another, SECURITY,
                    role_context(*deployer), ADMIN_POLICY, t.bus_policy("trailrelay-identity"))
    assert judge([squat])[0]["result"] != "Allowed"
