"""`trailrelay doctor` against a deployment in moto: a healthy one passes
(but for what moto cannot answer, which is said), and each broken variant
is named by the finding it breaks, with its fix."""
import json
import os
import subprocess
import time
import zipfile
import io

import pytest

from localaws import REGION, ROOT, SECURITY_ACCOUNT, Consumer, Member, MemberRoles, Moto, Organization, Relay, Template, categories

CLI = os.path.join(ROOT, "target", "debug", "trailrelay")


class Deployment:
    """The security account's topology, a member account with its
    forwarding role, the enricher's configuration and a fresh directory,
    as the stacks would leave them (moto runs no function, so the function
    is created only for its configuration)."""

    def __init__(self, moto):
        self.moto = moto
        self.organization = Organization(moto)
        org_id = moto.client("organizations").describe_organization()["Organization"]["Id"]
        self.relay = Relay(moto, [], organization_id=org_id)
        self.member_account = self.organization.ids["333333333333"]
        self.member_roles = MemberRoles(moto, self.member_account, self.relay.ingest_bus_arn,
                                        {"SecurityAccountId": SECURITY_ACCOUNT})
        self.member = Member(moto, self.member_account, self.relay.ingest_bus_arn)
        # The security account (here also the management account) forwards its own events too.
        MemberRoles(moto, SECURITY_ACCOUNT, self.relay.ingest_bus_arn)
        Member(moto, SECURITY_ACCOUNT, self.relay.ingest_bus_arn)
        self.member_iam = moto.client("iam", self.member_account)
        role = self.member_roles.template.props("ForwarderRole")
        self.forwarder = role["RoleName"]
        self.trust = json.dumps(role["AssumeRolePolicyDocument"])
        self.policies = {p["PolicyName"]: json.dumps(p["PolicyDocument"]) for p in role["Policies"]}
        self._enricher()
        self.doctor_role = f"arn:aws:iam::{self.member_account}:role/trailrelay-doctor"
        # A consumer account subscribed through consumer-account.yaml, with its doctor role.
        self.consumer = Consumer(moto, "444455556666")
        doctor = self.consumer.template.props("ConsumerDoctorRole")
        moto.client("iam", "444455556666").create_role(
            RoleName=doctor["RoleName"], AssumeRolePolicyDocument=json.dumps(doctor["AssumeRolePolicyDocument"]))
        self.consumer_role = f"arn:aws:iam::444455556666:role/{doctor['RoleName']}"
        # No trail, no events: a logging multi-region trail where each
        # checked account can see it (the organization trail, in AWS).
        self.cloudtrail = {}
        for account in (self.member_account, SECURITY_ACCOUNT):
            bucket = f"trail-{account}"
            moto.client("s3", account).create_bucket(Bucket=bucket)
            trails = moto.client("cloudtrail", account)
            trails.create_trail(Name="organization", S3BucketName=bucket, IsMultiRegionTrail=True)
            # AWS gives a new trail this selector; moto gives none.
            trails.put_event_selectors(TrailName="organization", EventSelectors=[
                {"ReadWriteType": "All", "IncludeManagementEvents": True}])
            trails.start_logging(Name="organization")
            self.cloudtrail[account] = trails

    def _enricher(self):
        t = self.relay.template
        iam = self.moto.client("iam")
        enricher_role = t.props("EnricherRole")
        role = iam.create_role(RoleName=enricher_role["RoleName"], AssumeRolePolicyDocument=json.dumps(
            enricher_role["AssumeRolePolicyDocument"]))["Role"]["Arn"]
        for policy in enricher_role["Policies"]:
            iam.put_role_policy(RoleName=enricher_role["RoleName"], PolicyName=policy["PolicyName"],
                                PolicyDocument=json.dumps(policy["PolicyDocument"]))
        # The relay key, with the key policy the template gives it (moto
        # stores it and enforces none of it; the doctor reads it).
        self.kms = self.moto.client("kms")
        self.key_policy = t.props("RelayKey")["KeyPolicy"]
        self.key_arn = self.kms.create_key(Policy=json.dumps(self.key_policy))["KeyMetadata"]["Arn"]
        env = {k: str(v) for k, v in t.props("Enricher")["Environment"]["Variables"].items() if v != ""}
        env["TRAILRELAY_RELAY_KEY_ARN"] = self.key_arn
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as z:
            z.writestr("bootstrap", "")
        self.moto.client("lambda").create_function(
            FunctionName=t.name_of("Enricher"), Runtime="provided.al2023", Role=role, Handler="bootstrap",
            Code={"ZipFile": package.getvalue()}, Environment={"Variables": env})
        # The reconciler, as the template sets it up, and one object in the
        # enriched copy's current hour (Firehose's, in AWS).
        reconciler_env = {k: str(v) for k, v in t.props("Reconciler")["Environment"]["Variables"].items() if v != ""}
        self.moto.client("lambda").create_function(
            FunctionName=t.name_of("Reconciler"), Runtime="provided.al2023", Role=role, Handler="bootstrap",
            Code={"ZipFile": package.getvalue()}, Environment={"Variables": reconciler_env})
        hour = time.strftime("%Y-%m-%d-%H", time.gmtime())
        self.moto.client("s3").put_object(
            Bucket=t.name_of("EnrichedCopyBucket"),
            Key=f"enriched/category=identity/hour={hour}/trailrelay-identity-copy-1.gz", Body=b"")
        directory = {"formatVersion": 1, "generatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "accounts": {}}
        self.moto.client("s3").put_object(Bucket=self.relay.directory_bucket, Key="latest.json",
                                          Body=json.dumps(directory).encode())

    def doctor(self):
        env = dict(os.environ)
        env.update({"AWS_ENDPOINT_URL": self.moto.url, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION})
        done = subprocess.run([CLI, "doctor", "--json", "--member-role-arn", self.doctor_role,
                               "--consumer-role-arn", self.consumer_role, "--member-regions", REGION],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
        findings = {f["id"]: f for f in json.loads(done.stdout)}
        return done.returncode, findings


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    moto = Moto(str(tmp_path_factory.mktemp("doctor")))
    try:
        yield Deployment(moto)
    finally:
        moto.stop()


def failed(findings):
    return sorted(i for i, f in findings.items() if f["status"] == "fail")


def test_a_healthy_deployment_passes(deployment):
    code, findings = deployment.doctor()
    assert failed(findings) == [], json.dumps(findings, indent=1)
    assert code == 0
    # moto has no TestEventPattern: the check says so instead of guessing.
    assert findings["ingest-pattern-matches"]["status"] == "could_not_check"
    passed = {i for i, f in findings.items() if f["status"] == "pass"}
    assert {"ingest-bus-policy", "ingest-rule", "ingest-dlq", "enricher-environment", "enricher-role",
            "account-directory", "coverage-management-account", "reconciler", "enriched-copy",
            f"member-rule-{deployment.member_account}-{REGION}", f"member-rule-{SECURITY_ACCOUNT}-{REGION}",
            f"member-role-{deployment.member_account}", "member-exclusions", "vpc-dns"} <= passed, sorted(passed)
    # The forward rule's FailedInvocations: moto answers GetMetricStatistics
    # only for metrics put into it, so "could not check" is an honest answer too.
    for account in (deployment.member_account, SECURITY_ACCOUNT):
        metric = findings[f"member-failed-invocations-{account}-{REGION}"]
        assert metric["status"] in ("pass", "could_not_check"), metric
    assert {f"category-bus-policy-{c}" for c in
            categories()} <= passed
    assert {f"trail-{deployment.member_account}-{REGION}", f"trail-{SECURITY_ACCOUNT}-{REGION}"} <= passed
    assert "consumer-bus-444455556666" in passed
    # What moto stores but never enforces (docs/aws-requirements.md): read and judged.
    assert {"key-grants", "dlq-encryption-ingest-dlq", "dlq-encryption-bus-dlq",
            "dlq-encryption-account-sync-dlq", "dlq-encryption-path-check-dlq"} <= passed, sorted(passed)


def broken(deployment, finding_id, evidence):
    code, findings = deployment.doctor()
    assert code == 1
    assert failed(findings) == [finding_id], json.dumps(findings, indent=1)
    assert evidence in findings[finding_id]["evidence"], findings[finding_id]
    assert findings[finding_id]["fix"], "a failure says what to do"
    return findings[finding_id]


def ingest_policy(deployment):
    events = deployment.relay.events
    return json.loads(events.describe_event_bus(Name=deployment.relay.ingest_bus)["Policy"])


def set_ingest_policy(deployment, policy):
    deployment.relay.events.put_permission(EventBusName=deployment.relay.ingest_bus, Policy=json.dumps(policy))


def test_an_ingest_policy_without_the_organization_condition(deployment):
    good = ingest_policy(deployment)
    bad = json.loads(json.dumps(good))
    for s in bad["Statement"]:
        s.pop("Condition", None)
    set_ingest_policy(deployment, bad)
    try:
        broken(deployment, "ingest-bus-policy", "anyone")
    finally:
        set_ingest_policy(deployment, good)


def test_an_ingest_policy_naming_another_organization(deployment):
    good = ingest_policy(deployment)
    set_ingest_policy(deployment, json.loads(json.dumps(good).replace(
        good["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalOrgID"], "o-someoneelse0")))
    try:
        f = broken(deployment, "ingest-bus-policy", "o-someoneelse0")
        assert "OrganizationId=o-" in f["fix"]
    finally:
        set_ingest_policy(deployment, good)


def test_a_member_rule_targeting_another_bus(deployment):
    events = deployment.member.events
    rule = deployment.member.forward_rule
    [target] = events.list_targets_by_rule(Rule=rule)["Targets"]
    wrong = dict(target, Arn=deployment.relay.ingest_bus_arn.replace("trailrelay-ingest", "somewhere-else"))
    events.put_targets(Rule=rule, Targets=[wrong])
    try:
        broken(deployment, f"member-rule-{deployment.member_account}-{REGION}", "not the ingest bus")
    finally:
        events.put_targets(Rule=rule, Targets=[target])


def test_a_member_role_without_put_events(deployment):
    iam, role = deployment.member_iam, deployment.forwarder
    for name in deployment.policies:
        iam.delete_role_policy(RoleName=role, PolicyName=name)
    try:
        broken(deployment, f"member-role-{deployment.member_account}", "may not events:PutEvents")
    finally:
        for name, document in deployment.policies.items():
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=document)


def test_a_member_role_trusting_the_wrong_service(deployment):
    iam, role = deployment.member_iam, deployment.forwarder
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=deployment.trust.replace(
        "events.amazonaws.com", "lambda.amazonaws.com"))
    try:
        broken(deployment, f"member-role-{deployment.member_account}", "does not trust events.amazonaws.com")
    finally:
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=deployment.trust)


def test_a_disabled_ingest_rule(deployment):
    events, bus = deployment.relay.events, deployment.relay.ingest_bus
    rule = deployment.relay.template.name_of("IngestRule")
    state = events.describe_rule(Name=rule, EventBusName=bus)["State"]
    events.disable_rule(Name=rule, EventBusName=bus)
    try:
        f = broken(deployment, "ingest-rule", "DISABLED")
        assert "enable-rule" in f["fix"]
    finally:
        described = events.describe_rule(Name=rule, EventBusName=bus)
        events.put_rule(Name=rule, EventBusName=bus, EventPattern=described["EventPattern"], State=state)


def test_a_category_bus_open_to_everyone(deployment):
    events = deployment.relay.events
    bus = deployment.relay.buses["IdentityBus"]
    good = json.loads(events.describe_event_bus(Name=bus)["Policy"])
    open_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "AnyonePublishes", "Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
         "Resource": events.describe_event_bus(Name=bus)["Arn"]}]}
    events.put_permission(EventBusName=bus, Policy=json.dumps(open_policy))
    try:
        broken(deployment, "category-bus-policy-identity", "anyone")
    finally:
        events.put_permission(EventBusName=bus, Policy=json.dumps(good))


def test_a_dead_letter_queue_with_messages(deployment):
    sqs = deployment.relay.sqs
    url = deployment.relay.queue_urls["IngestDeadLetterQueue"]
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageAttributes={
        "ERROR_CODE": {"DataType": "String", "StringValue": "NO_PERMISSIONS"}})
    try:
        f = broken(deployment, "ingest-dlq", "1 message(s)")
        assert "NO_PERMISSIONS" in f["evidence"]
    finally:
        deployment.relay.drain(url)


def test_an_ingest_policy_admitting_any_principal_of_the_organization(deployment):
    good = ingest_policy(deployment)
    wide = json.loads(json.dumps(good))
    # An Allow of the whole organization, and no Deny of other principals.
    wide["Statement"] = [s for s in wide["Statement"] if s["Effect"] == "Allow"]
    for s in wide["Statement"]:
        s["Condition"].pop("ArnLike")
    set_ingest_policy(deployment, wide)
    try:
        f = broken(deployment, "ingest-bus-policy", "forge a heartbeat")
        assert "OrganizationForwardRulesOnly" in f["fix"]
    finally:
        set_ingest_policy(deployment, good)


def test_a_key_that_does_not_let_log_delivery_decrypt_bus_logs(deployment):
    kms = deployment.kms
    bad = dict(deployment.key_policy, Statement=[s for s in deployment.key_policy["Statement"]
                                                 if s["Sid"] != "LogDeliveryDecryptsBusErrorLogs"])
    kms.put_key_policy(KeyId=deployment.key_arn, PolicyName="default", Policy=json.dumps(bad))
    try:
        f = broken(deployment, "key-grants", "delivery.logs.amazonaws.com kms:Decrypt")
        assert "docs/security.md" in f["fix"]
    finally:
        kms.put_key_policy(KeyId=deployment.key_arn, PolicyName="default", Policy=json.dumps(deployment.key_policy))


def test_a_bus_dead_letter_queue_under_the_relay_key(deployment):
    sqs = deployment.relay.sqs
    url = deployment.relay.queue_urls["BusDeadLetterQueue"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": deployment.key_arn,
                                                       "SqsManagedSseEnabled": "false"})
    try:
        f = broken(deployment, "dlq-encryption-bus-dlq", "disabled or missing")
        assert "SqsManagedSseEnabled" in f["fix"]
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "", "SqsManagedSseEnabled": "true"})


def test_a_member_account_whose_trail_stopped_logging(deployment):
    trails = deployment.cloudtrail[deployment.member_account]
    trails.stop_logging(Name="organization")
    try:
        f = broken(deployment, f"trail-{deployment.member_account}-{REGION}", "no trail is logging")
        assert "organization trail" in f["fix"]
    finally:
        trails.start_logging(Name="organization")


def test_a_member_account_without_its_member_stack(deployment):
    events, rule = deployment.member.events, deployment.member.forward_rule
    events.remove_targets(Rule=rule, Ids=[t["Id"] for t in deployment.member.forward_targets])
    events.delete_rule(Name=rule)
    try:
        f = broken(deployment, f"member-rule-{deployment.member_account}-{REGION}", "no forward rule")
        # Not the management account: its stack comes from the StackSet.
        assert "StackSet's deployment targets" in f["fix"], f
    finally:
        deployment.member = Member(deployment.moto, deployment.member_account, deployment.relay.ingest_bus_arn)


def test_a_consumer_bus_that_admits_another_accounts_rules(deployment):
    events = deployment.consumer.events
    good = deployment.consumer.bus_policy
    bad = json.loads(json.dumps(good).replace(SECURITY_ACCOUNT, "999999999999"))
    events.put_permission(EventBusName="trailrelay-consumer", Policy=json.dumps(bad))
    try:
        f = broken(deployment, "consumer-bus-444455556666", "999999999999")
        assert "consumer-account.yaml" in f["fix"]
    finally:
        events.put_permission(EventBusName="trailrelay-consumer", Policy=json.dumps(good))
