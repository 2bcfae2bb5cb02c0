"""The rules of docs/aws-requirements.md, checked on the templates as
CloudFormation resolves them.

moto stores key, bus and queue policies but enforces none of them, and
cfn-lint and checkov know nothing of what EventBridge needs from a
customer-managed key or of which cross-account shapes it supports. Each
test here asserts one row of docs/aws-requirements.md (the row names the
test); the last test keeps the table and the tests bound to each other.
"""
import json
import os
import re

import pytest

from localaws import ROOT, Template, categories  # the e2e harness's resolver, one for both

ACCOUNT = "123456789012"
REGION = "us-east-1"
CONSUMERS = ["444455556666", "777788889999"]
CATEGORIES = categories()
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/trailrelay-"


SECURITY_DOC = Template("template.yaml", ACCOUNT, {"OrganizationId": "o-exampleorgid"}).doc


def security(**parameters):
    return Template("template.yaml", ACCOUNT, {"OrganizationId": "o-exampleorgid", **parameters})


def as_list(value):
    return value if isinstance(value, list) else [value]


def key_statements(t):
    return {s["Sid"]: s for s in t.props("RelayKey")["KeyPolicy"]["Statement"]}


def bus_statements(t, category):
    [bus] = [n for n, r in t.resources("AWS::Events::EventBus").items()
             if t.props(n)["Name"] == f"trailrelay-{category}"]
    return {s["Sid"]: s for s in t.props(bus)["Policy"]["Statement"]}


# --- the relay key ----------------------------------------------------------------

def test_consumers_may_decrypt_only_through_eventbridge_and_only_for_the_category_buses():
    s = key_statements(security(ConsumerAccountIds=CONSUMERS))["ConsumersManageRulesOnTheCategoryBuses"]
    assert s["Effect"] == "Allow" and s["Principal"] == {"AWS": CONSUMERS}
    assert s["Action"] == "kms:Decrypt"
    condition = s["Condition"]["StringEquals"]
    assert condition["kms:ViaService"] == f"events.{REGION}.amazonaws.com"
    assert sorted(condition["kms:EncryptionContext:aws:events:event-bus:arn"]) == sorted(BUS + c for c in CATEGORIES)
    assert BUS + "ingest" not in condition["kms:EncryptionContext:aws:events:event-bus:arn"]
    # No consumers, no grant.
    assert "ConsumersManageRulesOnTheCategoryBuses" not in key_statements(security())


def test_eventbridge_may_describe_the_key_to_check_it_is_symmetric():
    s = key_statements(security())["EventBridgeChecksTheKeyIsSymmetric"]
    assert s["Principal"] == {"Service": "events.amazonaws.com"}
    assert s["Action"] == "kms:DescribeKey"


def test_the_archive_may_reencrypt_under_the_ingest_bus_context():
    s = key_statements(security())["EventBridgeEncryptsTheArchive"]
    assert s["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(s["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*"]
    assert s["Condition"] == {"StringEquals": {"kms:EncryptionContext:aws:events:event-bus:arn": BUS + "ingest"}}
    t = security()
    assert t.props("IngestArchive")["SourceArn"] == BUS + "ingest"


def test_bus_error_logs_can_be_encrypted_by_eventbridge_and_decrypted_by_log_delivery():
    statements = key_statements(security())
    logs_context = {"StringLike": {"kms:EncryptionContext:SourceArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:*"}}
    encrypt = statements["EventBridgeEncryptsBusErrorLogs"]
    assert encrypt["Principal"] == {"Service": "events.amazonaws.com"}
    assert as_list(encrypt["Action"]) == ["kms:GenerateDataKey"]
    assert encrypt["Condition"] == logs_context
    deliver = statements["LogDeliveryDecryptsBusErrorLogs"]
    assert deliver["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert sorted(deliver["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert deliver["Condition"] == logs_context
    # Every bus logs, under the key these statements are on.
    t = security()
    for name in t.resources("AWS::Events::EventBus"):
        assert t.props(name)["LogConfig"]["Level"] == "ERROR", name
        assert t.props(name)["KmsKeyIdentifier"] == t.arn_of("RelayKey"), name


# --- queues that must outlive a key failure -------------------------------------------

# The queues EventBridge puts what it could not deliver or process into: the
# buses' own DLQ (non-retriable key errors), and every rule target's DLQ.
def dead_letter_queues(t):
    queues = set()
    for name in t.resources("AWS::Events::EventBus"):
        queues.add(t.props(name)["DeadLetterConfig"]["Arn"])
    for name in t.resources("AWS::Events::Rule"):
        for target in t.props(name)["Targets"]:
            queues.add(target["DeadLetterConfig"]["Arn"])
    return queues


@pytest.mark.parametrize("parameters", [{}, {"Mode": "direct"}, {"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:alarms"}])
def test_dead_letter_queues_do_not_depend_on_the_key_whose_failure_they_catch(parameters):
    t = security(**parameters)
    by_arn = {t.arn_of(n): n for n in t.resources("AWS::SQS::Queue")}
    dlqs = dead_letter_queues(t)
    assert dlqs, "every bus and rule target has a dead-letter queue"
    for arn in dlqs:
        p = t.props(by_arn[arn])
        assert p.get("SqsManagedSseEnabled") is True, by_arn[arn]
        assert "KmsMasterKeyId" not in p, by_arn[arn]


def test_the_key_lets_eventbridge_write_only_to_the_queue_still_under_it():
    t = security()
    [s] = [s for s in key_statements(t).values() if "aws:SourceArn" in str(s.get("Condition"))]
    assert s["Sid"] == "EventBridgeWritesToTheBufferQueue"
    rule = t.arn_of("IngestRule")
    assert s["Condition"] == {"ArnEquals": {"aws:SourceArn": rule}}
    assert t.props("BufferQueue")["KmsMasterKeyId"] == t.arn_of("RelayKey")
    [target] = t.props("IngestRule")["Targets"]
    assert target["Arn"] == t.arn_of("BufferQueue")


# --- who may put on the ingest bus ------------------------------------------------------

@pytest.mark.parametrize("parameters", [{}, {"OrganizationPaths": ["o-exampleorgid/r-ab12/ou-ab12-11111111/*"],
                                             "ManagementAccountId": "111111111111"}])
def test_only_forward_rules_through_forwarder_roles_may_put_on_the_ingest_bus(parameters):
    t = security(**parameters)
    [s] = [s for s in t.props("IngestBus")["Policy"]["Statement"] if s["Sid"] == "OrganizationForwardRulesOnly"]
    assert s["Effect"] == "Allow" and s["Action"] == "events:PutEvents"
    c = s["Condition"]
    assert c["StringEquals"] == {"aws:PrincipalOrgID": "o-exampleorgid"}
    assert c["ArnLike"] == {"aws:PrincipalArn": "arn:aws:iam::*:role/trailrelay-forwarder",
                            "aws:SourceArn": "arn:aws:events:*:*:rule/trailrelay-forward"}
    member = Template("member-account.yaml", "222233334444", {"IngestBusArn": BUS + "ingest"})
    # What the member stack names is what the policy admits.
    assert member.arn_of("ForwardRule") == "arn:aws:events:us-east-1:222233334444:rule/trailrelay-forward"
    [target] = member.props("ForwardRule")["Targets"]
    assert target["RoleArn"] == "arn:aws:iam::222233334444:role/trailrelay-forwarder"


# --- consumers ------------------------------------------------------------------------

def test_consumer_rules_on_a_category_bus_may_target_only_a_bus_of_their_own_account():
    t = security(ConsumerAccountIds=CONSUMERS)
    for category in CATEGORIES:
        statements = bus_statements(t, category)
        manage = statements["ConsumersManageTheirOwnRules"]
        assert "events:PutTargets" not in manage["Action"], category
        assert {"events:PutRule", "events:DescribeRule", "events:EnableRule", "events:DisableRule",
                "events:ListTargetsByRule"} <= set(manage["Action"])
        targets = statements["ConsumersTargetOnlyTheirOwnBuses"]
        assert targets["Action"] == "events:PutTargets"
        assert targets["Principal"] == {"AWS": CONSUMERS}
        assert targets["Resource"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/trailrelay-{category}/${{aws:PrincipalAccount}}-*"
        assert targets["Condition"]["ForAllValues:ArnLike"] == {
            "events:TargetArn": "arn:aws:events:*:${aws:PrincipalAccount}:event-bus/*"}
        assert targets["Condition"]["StringEqualsIfExists"] == {"events:creatorAccount": "${aws:PrincipalAccount}"}


# --- the table and the tests agree -------------------------------------------------------

def requirement_rows():
    with open(os.path.join(ROOT, "docs", "aws-requirements.md")) as f:
        text = f.read()
    rows = [line for line in text.splitlines() if re.match(r"^\| R\d+ ", line)]
    assert rows, "docs/aws-requirements.md has no rows"
    return rows


def test_every_requirement_names_its_aws_page_and_a_test_that_exists():
    tests = ""
    for folder in ("tests/templates", "tests/e2e", "local"):
        for name in os.listdir(os.path.join(ROOT, folder)):
            if name.endswith(".py"):
                with open(os.path.join(ROOT, folder, name)) as f:
                    tests += f.read()
    for row in requirement_rows():
        cells = [c.strip() for c in row.strip("|").split("|")]
        rid, rule, page, resources, test, finding = cells[:6]
        assert "docs.aws.amazon.com" in page, f"{rid}: no AWS page"
        named = re.findall(r"`(test_\w+)`", test)
        assert named, f"{rid}: no test named"
        for t in named:
            assert f"def {t}(" in tests, f"{rid}: {t} does not exist"


# --- cross-account service targets ---------------------------------------------------------

@pytest.mark.parametrize("topic,role", [
    ("arn:aws:sns:us-east-1:999988887777:security-alarms", True),
    ("arn:aws:sns:us-east-1:123456789012:security-alarms", False),
])
def test_a_tamper_alert_to_a_topic_in_another_account_goes_through_a_role_of_this_account(topic, role):
    t = security(AlarmTopicArn=topic)
    rules = [n for n in t.resources("AWS::Events::Rule") if n.endswith("TamperAlerts")]
    assert len(rules) == len(CATEGORIES)
    for name in rules:
        [target] = t.props(name)["Targets"]
        assert target["Arn"] == topic
        assert ("RoleArn" in target) is role, name
    assert ("AlarmTopicRole" in t.resources("AWS::IAM::Role")) is role
    if role:
        r = t.props("AlarmTopicRole")
        [trust] = r["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "events.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        [policy] = r["Policies"]
        assert policy["PolicyDocument"]["Statement"] == [
            {"Sid": "PublishToTheAlarmTopicOnly", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic}]
    assert "AlarmTopicRole" not in security().resources("AWS::IAM::Role")


@pytest.mark.parametrize("target,action", [
    ("arn:aws:sqs:us-east-1:444455556666:soc-queue", "sqs:SendMessage"),
    ("arn:aws:lambda:us-east-1:444455556666:function:soc", "lambda:InvokeFunction"),
    ("arn:aws:sns:us-east-1:444455556666:soc-topic", "sns:Publish"),
    ("arn:aws:events:us-east-1:444455556666:event-bus/soc", "events:PutEvents"),
])
def test_a_subscription_the_security_account_owns_delivers_through_a_role_of_its_own_account(target, action):
    t = Template("security-subscription.yaml", ACCOUNT,
                 {"SubscriptionName": "soc", "Category": "identity", "TargetArn": target, "Signal": "root_activity"})
    rule = t.props("SubscriptionRule")
    assert rule["EventBusName"] == "trailrelay-identity"
    assert rule["EventPattern"] == {"source": ["trailrelay"], "detail": {"enrichment": {"signals": ["root_activity"]}}}
    [delivery] = rule["Targets"]
    assert delivery["Arn"] == target
    # The execution role is in the bus's (this) account, as EventBridge requires.
    assert delivery["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/trailrelay-identity-sub-soc"
    role = t.props("SubscriptionRole")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    [policy] = role["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {"Sid": "DeliverToTheTargetOnly", "Effect": "Allow", "Action": action, "Resource": target}]
    dlq = t.props("SubscriptionDeadLetterQueue")
    assert dlq["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in dlq
    assert delivery["DeadLetterConfig"]["Arn"] == t.arn_of("SubscriptionDeadLetterQueue")
    # Without a signal, every event of the category.
    every = Template("security-subscription.yaml", ACCOUNT,
                     {"SubscriptionName": "soc", "Category": "audit", "TargetArn": target})
    assert every.props("SubscriptionRule")["EventPattern"] == {"source": ["trailrelay"]}


def test_a_consumer_bus_admits_only_the_rules_of_the_security_accounts_category_buses():
    t = Template("consumer-account.yaml", "444455556666", {"SecurityAccountId": ACCOUNT})
    [statement] = t.props("ConsumerBus")["Policy"]["Statement"]
    assert statement["Action"] == "events:PutEvents" and statement["Principal"] == "*"
    assert statement["Resource"] == "arn:aws:events:us-east-1:444455556666:event-bus/trailrelay-consumer"
    assert sorted(statement["Condition"]["ArnLike"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/trailrelay-{c}/*" for c in CATEGORIES)
    rule = t.props("SubscriptionRule")
    assert rule["EventBusName"] == BUS + "identity"
    [target] = rule["Targets"]
    assert target["Arn"] == "arn:aws:events:us-east-1:444455556666:event-bus/trailrelay-consumer"
    assert "RoleArn" not in target, "a bus target needs no role from its creator"
    doctor = t.props("ConsumerDoctorRole")
    [trust] = doctor["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    [policy] = doctor["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [{
        "Sid": "DescribeTheConsumerBusOnly", "Effect": "Allow", "Action": "events:DescribeEventBus",
        "Resource": "arn:aws:events:us-east-1:444455556666:event-bus/trailrelay-consumer"}]


def test_organization_paths_keep_the_management_account_forwarding_and_the_path_check_in_step():
    paths = ["o-exampleorgid/r-ab12/ou-ab12-11111111/*", "o-exampleorgid/r-ab12/ou-ab12-22222222/*"]
    t = security(OrganizationPaths=paths, ManagementAccountId="111111111111")
    statements = {s["Sid"]: s for s in t.props("IngestBus")["Policy"]["Statement"]}
    narrowed = statements["OrganizationForwardRulesOnly"]["Condition"]
    assert narrowed["ForAnyValue:StringLike"] == {"aws:PrincipalOrgPaths": paths}
    # The management account sits under the root, outside every OU path.
    management = statements["ManagementAccountForwardRulesOnly"]["Condition"]
    assert management["StringEquals"] == {"aws:PrincipalOrgID": "o-exampleorgid", "aws:PrincipalAccount": "111111111111"}
    assert management["ArnLike"] == {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/trailrelay-forwarder",
                                     "aws:SourceArn": "arn:aws:events:*:111111111111:rule/trailrelay-forward"}
    # The path check expects exactly the accounts the bus admits.
    env = t.props("PathCheck")["Environment"]["Variables"]
    assert env["TRAILRELAY_ORGANIZATION_PATHS"] == ",".join(paths)
    assert env["TRAILRELAY_MANAGEMENT_ACCOUNT_ID"] == "111111111111"
    # Without OrganizationPaths: one statement, the whole organization expected.
    plain = security()
    assert [s["Sid"] for s in plain.props("IngestBus")["Policy"]["Statement"]] == [
        "OrganizationForwardRulesOnly", "OnlyForwarderRoles", "OnlyThroughForwardRules"]
    assert "TRAILRELAY_ORGANIZATION_PATHS" not in plain.props("PathCheck")["Environment"]["Variables"]
    # CloudFormation refuses OrganizationPaths without the management account.
    rule = SECURITY_DOC["Rules"]["ManagementAccountIsNamedWithOrganizationPaths"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ManagementAccountId"}, ""]}]}


# --- the enriched copy --------------------------------------------------------------

def copy_streams(t):
    return {t.props(n)["DeliveryStreamName"]: t.props(n) for n in t.resources("AWS::KinesisFirehose::DeliveryStream")}


def test_each_category_bus_copies_the_relays_events_to_its_own_stream_with_a_role_that_may_only_put_records():
    t = security()
    streams = copy_streams(t)
    assert sorted(streams) == sorted(f"trailrelay-{c}-copy" for c in CATEGORIES)
    rules = {t.props(n)["EventBusName"]: t.props(n) for n in t.resources("AWS::Events::Rule")
             if t.props(n)["Name"].endswith("-copy")}
    assert sorted(rules) == sorted(f"trailrelay-{c}" for c in CATEGORIES)
    role = t.props("EnrichedCopyTargetRole")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/trailrelay-enriched-copy-target"
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:trailrelay-bus-dlq"
    for c in CATEGORIES:
        rule = rules[f"trailrelay-{c}"]
        assert rule["EventPattern"] == {"source": ["trailrelay"]}, "the relay's own events, nothing else"
        [target] = rule["Targets"]
        assert target["Arn"] == f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/trailrelay-{c}-copy"
        assert target["RoleArn"] == role_arn
        assert target["DeadLetterConfig"]["Arn"] == dlq
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    [policy] = role["Policies"]
    [grant] = policy["PolicyDocument"]["Statement"]
    assert sorted(grant["Action"]) == ["firehose:PutRecord", "firehose:PutRecordBatch"]
    assert sorted(grant["Resource"]) == sorted(
        f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/trailrelay-{c}-copy" for c in CATEGORIES)
    # Events the copy could not take are dead-lettered: the DLQ admits the copy rules.
    [admit] = t.props("BusDeadLetterQueuePolicy")["PolicyDocument"]["Statement"]
    sources = admit["Condition"]["ArnEquals"]["aws:SourceArn"]
    for c in CATEGORIES:
        assert f"arn:aws:events:{REGION}:{ACCOUNT}:rule/trailrelay-{c}/trailrelay-{c}-copy" in sources


def test_the_copy_is_gzip_json_lines_partitioned_by_category_and_hour_under_the_relay_key():
    t = security()
    key = t.props("EnrichedCopyBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    relay_key = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:RelayKey"
    assert key["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": relay_key}
    for name, stream in copy_streams(t).items():
        category = name.removeprefix("trailrelay-").removesuffix("-copy")
        s3 = stream["ExtendedS3DestinationConfiguration"]
        assert s3["Prefix"] == f"enriched/category={category}/hour=!{{timestamp:yyyy-MM-dd-HH}}/"
        assert s3["ErrorOutputPrefix"].startswith(f"errors/category={category}/")
        assert s3["CompressionFormat"] == "GZIP"
        # One event per line: Firehose adds no delimiter of its own.
        assert s3["ProcessingConfiguration"] == {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}
        # The key must be in the bucket's region: the stack's own key, or the one brought.
        assert s3["EncryptionConfiguration"] == {"KMSEncryptionConfig": {"AWSKMSKeyARN": relay_key}}
        assert "DynamicPartitioningConfiguration" not in s3, "a static prefix per stream, no per-GB partitioning charge"
    lifecycle = t.props("EnrichedCopyBucket")["LifecycleConfiguration"]["Rules"]
    assert [r["ExpirationInDays"] for r in lifecycle if "ExpirationInDays" in r] == [400]
    assert security(EnrichedCopyRetentionDays=30).props("EnrichedCopyBucket")["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30


def test_firehose_writes_only_the_copys_prefixes_and_uses_the_key_only_through_s3_for_this_bucket():
    t = security()
    role = t.props("EnrichedCopyDeliveryRole")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": ACCOUNT}}
    [policy] = role["Policies"]
    grants = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    bucket = f"arn:aws:s3:::trailrelay-enrichedcopybucket-{ACCOUNT}"
    assert grants["TheBucket"]["Resource"] == bucket
    assert sorted(grants["ItsObjects"]["Action"]) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    assert sorted(grants["ItsObjects"]["Resource"]) == [f"{bucket}/enriched/*", f"{bucket}/errors/*"]
    kms = grants["TheKeyThroughS3ForThisBucket"]
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert kms["Condition"]["StringLike"] == {"kms:EncryptionContext:aws:s3:arn": f"{bucket}*"}
    assert set(grants) == {"TheBucket", "ItsObjects", "TheKeyThroughS3ForThisBucket"}


def test_without_the_copy_there_is_no_bucket_stream_rule_or_role_for_it():
    t = security(EnrichedCopy="false")
    assert not t.resources("AWS::KinesisFirehose::DeliveryStream")
    assert "EnrichedCopyBucket" not in t.resources("AWS::S3::Bucket")
    assert not [n for n in t.resources("AWS::Events::Rule") if n.endswith("BusCopy")]
    assert not [n for n in t.resources("AWS::IAM::Role") if n.startswith("EnrichedCopy")]
    [admit] = t.props("BusDeadLetterQueuePolicy")["PolicyDocument"]["Statement"]
    assert not [a for a in admit["Condition"]["ArnEquals"]["aws:SourceArn"] if a.endswith("-copy")]


# --- reconciliation -----------------------------------------------------------------------

TRAIL = {"TrailBucket": "org-log-archive", "TrailKeyPrefix": "org-trail"}


def reconciler_grants(t):
    [policy] = t.props("ReconcilerRole")["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def test_the_reconciler_reads_only_the_organizations_log_files_and_decrypts_them_only_through_s3():
    key = "arn:aws:kms:us-east-1:999900001111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    t = security(**TRAIL, TrailKmsKeyArn=key)
    grants = reconciler_grants(t)
    listing = grants["ListOnlyTheOrganizationsLogFolders"]
    assert listing["Action"] == "s3:ListBucket" and listing["Resource"] == "arn:aws:s3:::org-log-archive"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "org-trail/AWSLogs/o-exampleorgid/*"}}
    assert grants["ReadOnlyTheTrailsLogFiles"] == {
        "Sid": "ReadOnlyTheTrailsLogFiles", "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::org-log-archive/org-trail/AWSLogs/o-exampleorgid/*"}
    decrypt = grants["DecryptTheTrailOnlyThroughS3"]
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == key
    assert decrypt["Condition"] == {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}
    # Without a prefix the log files start at AWSLogs/.
    bare = reconciler_grants(security(TrailBucket="org-log-archive"))
    assert bare["ReadOnlyTheTrailsLogFiles"]["Resource"] == "arn:aws:s3:::org-log-archive/AWSLogs/o-exampleorgid/*"
    assert "DecryptTheTrailOnlyThroughS3" not in bare, "no key named, no key grant"
    env = t.props("Reconciler")["Environment"]["Variables"]
    assert (env["TRAILRELAY_TRAIL_BUCKET"], env["TRAILRELAY_TRAIL_KEY_PREFIX"], env["TRAILRELAY_ORGANIZATION_ID"]) == (
        "org-log-archive", "org-trail", "o-exampleorgid")


def test_with_a_log_archive_read_role_the_reconciler_only_assumes_it():
    role = "arn:aws:iam::999900001111:role/trailrelay-trail-reader"
    t = security(**TRAIL, TrailReadRoleArn=role,
                 TrailKmsKeyArn="arn:aws:kms:us-east-1:999900001111:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    grants = reconciler_grants(t)
    assert grants["AssumeTheLogArchiveReadRole"]["Action"] == "sts:AssumeRole"
    assert grants["AssumeTheLogArchiveReadRole"]["Resource"] == role
    trail_grants = {"ListOnlyTheOrganizationsLogFolders", "ReadOnlyTheTrailsLogFiles", "DecryptTheTrailOnlyThroughS3"}
    assert not trail_grants & set(grants), "the role in the log-archive account reads; ours does not"
    assert t.props("Reconciler")["Environment"]["Variables"]["TRAILRELAY_TRAIL_READ_ROLE_ARN"] == role


def test_the_reconciler_reads_the_copy_reports_on_the_audit_bus_and_puts_back_through_the_relays_own_entry():
    buffered = security(**TRAIL)
    grants = reconciler_grants(buffered)
    bucket = f"arn:aws:s3:::trailrelay-enrichedcopybucket-{ACCOUNT}"
    assert grants["ListOnlyTheEnrichedCopy"]["Resource"] == bucket
    assert grants["ListOnlyTheEnrichedCopy"]["Condition"] == {"StringLike": {"s3:prefix": "enriched/*"}}
    assert grants["ReadTheEnrichedCopy"]["Resource"] == f"{bucket}/enriched/*"
    assert grants["ReportOnTheAuditBusOnly"]["Action"] == "events:PutEvents"
    assert grants["ReportOnTheAuditBusOnly"]["Resource"] == BUS + "audit"
    # Buffered: the buffer queue, never PutEvents on the ingest bus (it refuses
    # an aws. source) and never the enricher itself.
    assert grants["PutBackOnTheBufferQueue"] == {
        "Sid": "PutBackOnTheBufferQueue", "Effect": "Allow", "Action": "sqs:SendMessage",
        "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:trailrelay-buffer"}
    assert "PutBackThroughTheEnricher" not in grants
    assert not [s for s in grants.values() if s["Action"] == "events:PutEvents" and s["Resource"] != BUS + "audit"]
    env = buffered.props("Reconciler")["Environment"]["Variables"]
    assert env["TRAILRELAY_BACKFILL"] == "queue" and "TRAILRELAY_ENRICHER_FUNCTION" not in env
    # Direct: an invocation of the enricher.
    direct = security(**TRAIL, Mode="direct")
    grants = reconciler_grants(direct)
    assert grants["PutBackThroughTheEnricher"]["Action"] == "lambda:InvokeFunction"
    assert "PutBackOnTheBufferQueue" not in grants
    env = direct.props("Reconciler")["Environment"]["Variables"]
    assert (env["TRAILRELAY_BACKFILL"], env["TRAILRELAY_ENRICHER_FUNCTION"]) == ("invoke", "trailrelay-enricher")
    # Backfill off: no way to put anything back.
    off = security(**TRAIL, Backfill="false")
    grants = reconciler_grants(off)
    assert not {"PutBackOnTheBufferQueue", "PutBackThroughTheEnricher"} & set(grants)
    assert off.props("Reconciler")["Environment"]["Variables"]["TRAILRELAY_BACKFILL"] == "off"
    # The relay key only through the services that hold what it reads and writes.
    kms = reconciler_grants(buffered)["UseTheRelayKey"]
    assert sorted(kms["Condition"]["StringEquals"]["kms:ViaService"]) == sorted(
        f"{s}.{REGION}.amazonaws.com" for s in ("s3", "sqs", "lambda"))


def test_each_window_is_read_an_hour_and_a_day_after_it_ends_and_the_alarm_watches_the_second_pass():
    t = security(**TRAIL)
    rules = {t.props(n)["Name"]: t.props(n) for n in t.resources("AWS::Events::Rule")
             if t.props(n)["Name"].startswith("trailrelay-reconcile-")}
    assert sorted(rules) == ["trailrelay-reconcile-first-pass", "trailrelay-reconcile-second-pass"]
    for name, pass_ in (("first-pass", "first"), ("second-pass", "second")):
        rule = rules[f"trailrelay-reconcile-{name}"]
        assert rule["ScheduleExpression"] == "rate(1 hour)"
        [target] = rule["Targets"]
        assert json.loads(target["Input"]) == {"pass": pass_}
        assert target["DeadLetterConfig"]["Arn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:trailrelay-reconcile-dlq"
    alarm = t.props("ReconcileMissingAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("trailrelay", "ReconcileMissing")
    assert alarm["Dimensions"] == [{"Name": "Pass", "Value": "second"}]
    assert alarm["TreatMissingData"] == "breaching", "a reconciler that stops must not look like nothing is missing"


def test_without_a_trail_bucket_or_the_copy_there_is_no_reconciler():
    for t in (security(), security(**TRAIL, EnrichedCopy="false")):
        assert "Reconciler" not in t.resources("AWS::Serverless::Function")
        assert "ReconcilerRole" not in t.resources("AWS::IAM::Role")
        assert not [n for n in t.resources("AWS::Events::Rule") if "Reconcile" in n]
        assert not [n for n in t.resources("AWS::CloudWatch::Alarm") if "Reconcile" in n]


@pytest.mark.parametrize("mode", ["buffered", "direct"])
def test_the_ingest_rule_cannot_mark_what_it_forwards(mode):
    t = security(Mode=mode)
    [target] = t.props("IngestRule")["Targets"]
    # The event as it is: no transformer or input that could reshape it into
    # the batch shape, no SQS parameters (a classic rule's can only set a
    # message group, never an attribute).
    for key in ("Input", "InputPath", "InputTransformer", "SqsParameters"):
        assert key not in target, f"{mode}: {key} on the ingest rule's target"


# --- the functions' trust roots ------------------------------------------------------------

FUNCTIONS = ["Enricher", "AccountSync", "PathCheck", "Reconciler"]


@pytest.mark.parametrize("tls_roots,region,expected", [
    (None, "us-east-1", "amazon"),
    ("system", "us-east-1", "system"),
    ("amazon", "cn-north-1", "system"),
    (None, "us-gov-west-1", "system"),
])
def test_the_functions_trust_amazons_roots_only_in_the_aws_partition_and_when_asked(tls_roots, region, expected):
    parameters = {"OrganizationId": "o-exampleorgid", "TrailBucket": "org-trail-logs"}
    if tls_roots:
        parameters["TlsRoots"] = tls_roots
    t = Template("template.yaml", ACCOUNT, parameters, region=region)
    functions = t.resources("AWS::Serverless::Function")
    assert sorted(functions) == sorted(FUNCTIONS)
    for name in functions:
        assert t.props(name)["Environment"]["Variables"]["TRAILRELAY_TLS_ROOTS"] == expected, name


# --- Rules sections ---------------------------------------------------------------

# What a rule's condition and assertions may use (CloudFormation's "Rule
# functions" page): the rule functions and Ref.
RULE_FUNCTIONS = {"Fn::And", "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn", "Fn::Equals", "Fn::Not",
                  "Fn::Or", "Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll", "Ref"}


def functions_in(value):
    if isinstance(value, list):
        return set().union(*(functions_in(v) for v in value)) if value else set()
    if isinstance(value, dict):
        own = {k for k in value if k == "Ref" or k.startswith("Fn::") or k == "Condition"}
        return own.union(*(functions_in(v) for v in value.values()))
    return set()


@pytest.mark.parametrize("path", ["template.yaml", "member-account.yaml", "consumer-account.yaml",
                                  "security-subscription.yaml", "organization-guardrails.yaml"])
def test_rules_use_only_the_functions_cloudformation_allows_in_them(path):
    doc = Template(path, ACCOUNT).doc
    for name, rule in doc.get("Rules", {}).items():
        used = functions_in(rule.get("RuleCondition", {})) | functions_in(rule.get("Assertions", []))
        assert used <= RULE_FUNCTIONS, f"{path} {name}: {sorted(used - RULE_FUNCTIONS)}"


# --- the member roll-out (docs/deploy.md) ---------------------------------------------

def deploy_commands():
    """Each `aws cloudformation <verb>` of docs/deploy.md's sh blocks, in
    order: (verb, {option: [values]}), with `$(...)` kept as one word."""
    with open(os.path.join(ROOT, "docs", "deploy.md")) as f:
        text = f.read()
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0] if not line.lstrip().startswith("#") else ""
            m = re.match(r"\s*aws cloudformation ([a-z-]+) (.*)", line)
            if not m:
                continue
            options, key = {}, None
            for word in re.findall(r'"(?:\\.|[^"\\])*"|\S+', m.group(2)):
                if word.startswith("--"):
                    key = word
                    options.setdefault(key, [])
                elif key:
                    options[key].append(word)
            out.append((m.group(1), options))
    return out


def stack_set_of(options):
    return options.get("--stack-set-name", [None])[0]


def test_the_documented_roll_out_makes_the_roles_once_and_the_regional_stacks_after_them():
    commands = deploy_commands()
    created = {stack_set_of(o): o for verb, o in commands if verb == "create-stack-set"}
    roles, regional = created["trailrelay-member-roles"], created["trailrelay-member"]
    assert roles["--template-body"] == ["file://member-roles.yaml"]
    assert regional["--template-body"] == ["file://member-account.yaml"]
    # Named roles need CAPABILITY_NAMED_IAM; the regional stack makes no IAM resource.
    assert roles["--capabilities"] == ["CAPABILITY_NAMED_IAM"]
    # Operation preferences do not apply to auto-deployment: only DependsOn orders a new account's stacks.
    auto = json.loads(json.loads(regional["--auto-deployment"][0]).replace(
        '$(aws cloudformation describe-stack-set --stack-set-name trailrelay-member-roles '
        '--query StackSet.StackSetARN --output text)', "ROLES_ARN"))
    assert auto == {"Enabled": True, "RetainStacksOnAccountRemoval": False, "DependsOn": ["ROLES_ARN"]}
    assert "Enabled=true" in roles["--auto-deployment"][0]
    instances = [(stack_set_of(o), o) for verb, o in commands if verb == "create-stack-instances"]
    names = [n for n, _ in instances]
    assert names.index("trailrelay-member-roles") < names.index("trailrelay-member")
    [roles_regions] = [o["--regions"] for n, o in instances if n == "trailrelay-member-roles"]
    assert len(roles_regions) == 1, "IAM is global: one region makes the roles"
    first_regional = next(o for n, o in instances if n == "trailrelay-member")
    assert "us-east-1" in first_regional["--regions"], "global services record their events in us-east-1 only"
    # The parameters given to each exist in its template, and each template's required ones are given.
    for stack_set, template in (("trailrelay-member-roles", "member-roles.yaml"),
                                ("trailrelay-member", "member-account.yaml")):
        declared = Template(template, ACCOUNT).doc["Parameters"]
        given = {dict(f.split("=", 1) for f in w.split(","))["ParameterKey"]
                 for w in created[stack_set].get("--parameters", [])}
        assert given <= set(declared), (template, given - set(declared))
        assert {k for k, v in declared.items() if "Default" not in v} <= given, template
    # The management account's plain stacks: the roles first, then the regional stack.
    plain = [o["--template-file"][0] for verb, o in commands if verb == "deploy"
             and o.get("--template-file", [""])[0].startswith("member-")]
    assert plain[:2] == ["member-roles.yaml", "member-account.yaml"]
    for verb, o in commands:
        if verb == "deploy" and o.get("--template-file") == ["member-roles.yaml"]:
            assert o["--capabilities"] == ["CAPABILITY_NAMED_IAM"]


def test_the_roll_out_says_what_stops_a_stack_set_and_how_a_delegated_administrator_calls():
    with open(os.path.join(ROOT, "docs", "deploy.md")) as f:
        text = f.read()
    text = " ".join(text.split())
    rollout = text[text.index("### Roll-out"):text.index("### Upgrading from the single member stack")]
    # What fails an instance at failure tolerance 0, each with its way out.
    for phrase in ("disabled by default", "aws account enable-region", "FailureToleranceCount",
                   "SKIPPED_SUSPENDED_ACCOUNT", "--call-as DELEGATED_ADMIN"):
        assert phrase in rollout, phrase
    # The prove-live rows run in one account before the targets widen.
    with open(os.path.join(ROOT, "docs", "aws-requirements.md")) as f:
        live = re.findall(r"^\| (R\d+) \| \*\*Prove live\.\*\*", f.read(), re.M)
    assert live, "the table has prove-live rows"
    for row in live:
        assert row in rollout, f"the roll-out runs {row}'s step first"
    # A service-managed StackSet creates instances in OUs only: one account is an OU narrowed to it.
    assert "OrganizationalUnitIds=<its OU>,Accounts=<one account>,AccountFilterType=INTERSECTION" in rollout
    commands = deploy_commands()
    for verb, o in commands:
        if verb in ("create-stack-instances", "update-stack-set", "delete-stack-instances") \
                and "--deployment-targets" in o:
            assert all("OrganizationalUnitIds=" in t for t in o["--deployment-targets"]), (verb, o)
    # The upgrade's updates keep what they do not mean to change.
    upgrade = text[text.index("### Upgrading from the single member stack"):]
    assert "not from the DLQs" in upgrade and "relay_tampering" in upgrade
    updates = [o for verb, o in commands if verb == "update-stack-set"]
    assert len(updates) == 2, "the upgrade updates the regional StackSet twice"
    # A StackSet has one template: updated for one OU, it is the template of every later
    # instance in every OU, so the upgrade updates all instances at once.
    assert "the whole organization in one maintenance window" in upgrade
    for o in updates:
        assert "--deployment-targets" not in o and "--regions" not in o, o
        assert ("--template-body" in o) != ("--use-previous-template" in o), o
        for parameter in o.get("--parameters", []):
            assert "UsePreviousValue=true" in parameter or "ParameterValue=" in parameter, parameter
    assert "DependsOn" in updates[1]["--auto-deployment"][0]
    # Raising the pattern limit is for every account and region, or none.
    assert "in every account and region the StackSet deploys to" in text


# --- the guardrail -------------------------------------------------------------------------

def test_the_guardrail_fits_an_scp_at_its_longest_parameters():
    """Organizations refuses an SCP over 5,120 characters; the guardrail's
    statements grow with NamePrefix, DeploymentRoleName and ControlSource,
    so it is measured with each at the longest its pattern admits."""
    longest = {"NamePrefix": "t" + "x" * 30, "DeploymentRoleName": "r" * 64,
               "ControlSource": "c" * 256, "TargetIds": ["ou-ex12-members"],
               "OrganizationTrailArn": "arn:aws:cloudtrail:us-east-1:999988887777:trail/" + "t" * 128}
    t = Template("organization-guardrails.yaml", "999988887777", longest)
    [policy] = t.resources("AWS::Organizations::Policy")
    content = json.dumps(t.props(policy)["Content"], separators=(",", ":"))
    assert longest["ControlSource"] in content and longest["DeploymentRoleName"] in content
    assert len(content) <= 5120, f"the guardrail is {len(content)} characters at its longest parameters"
