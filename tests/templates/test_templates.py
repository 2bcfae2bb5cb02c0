"""Least-privilege and wiring checks of template.yaml and the member templates.

cfn-lint, sam validate and checkov do not know what trailrelay needs: that
only the organization may forward, only the enricher may publish, every
queue EventBridge writes to admits only its rule, and the runtime and
architecture are the ones we build for. These tests read the templates and
say so.
"""
import itertools
import os

import pytest
from localaws import ROOT, Template, categories

CATEGORIES = categories()


def load(name):
    """The template as written (intrinsic functions unresolved), read by
    the one reader the e2e harness uses too."""
    return Template(name, account="123456789012").doc


SECURITY = load("template.yaml")
MEMBER = load("member-account.yaml")
MEMBER_ROLES = load("member-roles.yaml")
GUARDRAILS = load("organization-guardrails.yaml")
CONSUMER = load("consumer-account.yaml")
SUBSCRIPTION = load("security-subscription.yaml")
INGEST_BUS = "arn:aws:events:us-east-1:111111111111:event-bus/trailrelay-ingest"


def member(**parameters):
    """The member template as CloudFormation resolves it."""
    return Template("member-account.yaml", "123456789012", {"IngestBusArn": INGEST_BUS, **parameters})


def rule_pattern(template, rule):
    """A rule's pattern; the member's as resolved without an exclusion (it
    is an Fn::If on ForwardExcludedEventNames)."""
    if template is MEMBER:
        return member().props(rule)["EventPattern"]
    return resources(template)[rule]["Properties"]["EventPattern"]


def resources(template, kind=None):
    return {k: v for k, v in template["Resources"].items() if kind is None or v["Type"] == kind}


def branches(value):
    """Both outcomes of an Fn::If (recursively), or the value itself."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        _, yes, no = value["Fn::If"]
        return branches(yes) + branches(no)
    return [value]


def statements(document):
    out = []
    for s in document["Statement"]:
        out.extend(b for b in branches(s) if b != {"Ref": "AWS::NoValue"})
    return out


def as_list(value):
    return value if isinstance(value, list) else [value]


def iam_statements(template):
    """Every statement of every IAM role policy, with where it came from."""
    for name, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for s in statements(policy["PolicyDocument"]):
                yield name, s


def sub(text):
    return {"Fn::Sub": text}


# The key of every store: the stack's own, or the one a user brings (KmsKeyArn).
KEY_ARN = {"Fn::If": ["CreateRelayKey", {"Fn::GetAtt": ["RelayKey", "Arn"]}, {"Ref": "KmsKeyArn"}]}


def bus_arn(suffix):
    return sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${NamePrefix}-" + suffix)


# --- the ingest bus ---------------------------------------------------------

def test_only_the_organization_may_put_events_on_the_ingest_bus():
    policy = resources(SECURITY)["IngestBus"]["Properties"]["Policy"]
    # The management account's own statement exists only with OrganizationPaths
    # (tests/templates/test_aws_requirements.py).
    [statement] = [s for s in statements(policy) if s["Sid"] == "OrganizationForwardRulesOnly"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == bus_arn("ingest")
    for condition in branches(statement["Condition"]):
        assert condition["StringEquals"] == {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}
        assert "aws:SourceAccount" not in str(condition), "no account lists in the bus policy"
    narrowed = branches(statement["Condition"])[0]
    assert narrowed["ForAnyValue:StringLike"] == {"aws:PrincipalOrgPaths": {"Ref": "OrganizationPaths"}}


def test_the_ingest_bus_is_archived():
    archive = resources(SECURITY, "AWS::Events::Archive")["IngestArchive"]["Properties"]
    assert archive["SourceArn"] == {"Fn::GetAtt": ["IngestBus", "Arn"]}
    assert archive["RetentionDays"] == {"Ref": "ArchiveRetentionDays"}


# --- event patterns ------------------------------------------------------------

def matches(pattern, event, parameters):
    """A small EventBridge matcher for the pattern forms the templates use
    (exact strings, Ref parameters, prefix and suffix); moto cannot test
    patterns, and the templates must be right before anything is deployed."""
    for field, allowed in pattern.items():
        value = event[field]
        def one(rule):
            if isinstance(rule, str):
                return value == rule
            if "Ref" in rule:
                return value == parameters[rule["Ref"]]
            if "prefix" in rule:
                return value.startswith(rule["prefix"])
            if "suffix" in rule:
                return value.endswith(rule["suffix"])
            raise AssertionError(f"pattern form not understood: {rule}")
        if not any(one(r) for r in allowed):
            return False
    return True


DEFAULTS = {"ControlSource": "trailrelay.control", "EventSource": "trailrelay"}
CLOUDTRAIL_DETAIL_TYPES = [
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AWS Service Event via CloudTrail",
    "AWS Console Action via CloudTrail",
    "AWS Insight via CloudTrail",
]


@pytest.mark.parametrize("template,rule", [(SECURITY, "IngestRule"), (MEMBER, "ForwardRule")])
def test_rules_take_cloudtrail_and_control_events_and_never_our_output(template, rule):
    pattern = rule_pattern(template, rule)
    for detail_type in CLOUDTRAIL_DETAIL_TYPES:
        for source in ["aws.iam", "aws.ec2", "aws.signin", "aws.cloudtrail"]:
            assert matches(pattern, {"source": source, "detail-type": detail_type}, DEFAULTS)
    for detail_type in ["trailrelay Test Event", "trailrelay Heartbeat"]:
        assert matches(pattern, {"source": "trailrelay.control", "detail-type": detail_type}, DEFAULTS)
    for detail_type in CLOUDTRAIL_DETAIL_TYPES + ["trailrelay Test Event"]:
        assert not matches(pattern, {"source": "trailrelay", "detail-type": detail_type}, DEFAULTS)
    assert not matches(pattern, {"source": "aws.events", "detail-type": "Scheduled Event"}, DEFAULTS)


@pytest.mark.parametrize("template,rule", [(SECURITY, "IngestRule"), (MEMBER, "ForwardRule")])
def test_read_only_events_follow_the_parameter(template, rule):
    state = resources(template)[rule]["Properties"]["State"]
    assert state == {"Fn::If": ["IncludeReadOnly", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", "ENABLED"]}
    assert template["Conditions"]["IncludeReadOnly"] == {
        "Fn::Equals": [{"Ref": "IncludeReadOnlyEvents"}, "true"]}
    assert template["Parameters"]["IncludeReadOnlyEvents"]["Default"] == "true"


def test_the_relay_source_parameters_refuse_aws_sources():
    import re
    for template in (SECURITY, MEMBER):
        for name in ("EventSource", "ControlSource"):
            if name not in template["Parameters"]:
                continue
            allowed = re.compile(template["Parameters"][name]["AllowedPattern"])
            assert allowed.match(template["Parameters"][name]["Default"])
            assert not allowed.match("aws.trailrelay")


# --- rule targets and the queues EventBridge writes to ----------------------------

def test_every_rule_target_has_a_dead_letter_queue_and_a_retry_policy():
    for template in (SECURITY, MEMBER):
        for name, rule in resources(template, "AWS::Events::Rule").items():
            for target in itertools.chain.from_iterable(branches(t) for t in rule["Properties"]["Targets"]):
                assert "Arn" in target["DeadLetterConfig"], name
                assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0, name


def queues_written_by_rules(template):
    """(queue resource, rule or bus resource) for every target or DLQ of a
    rule, and every bus's own dead-letter queue."""
    for rule_name, rule in resources(template, "AWS::Events::Rule").items():
        for target in itertools.chain.from_iterable(branches(t) for t in rule["Properties"]["Targets"]):
            for arn in (target["Arn"], target["DeadLetterConfig"]["Arn"]):
                if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                    queue = arn["Fn::GetAtt"][0]
                    if resources(template)[queue]["Type"] == "AWS::SQS::Queue":
                        yield queue, rule_name
    for bus_name, bus in resources(template, "AWS::Events::EventBus").items():
        dlq = bus["Properties"].get("DeadLetterConfig")
        if dlq:
            yield dlq["Arn"]["Fn::GetAtt"][0], bus_name


def present(values):
    """A list's items with each Fn::If's branches, AWS::NoValue left out."""
    out = []
    for v in as_list(values):
        out.extend(b for b in branches(v) if b != {"Ref": "AWS::NoValue"})
    return out


def test_queues_admit_only_the_rules_that_write_to_them():
    for template in (SECURITY, MEMBER):
        writers = {}
        for queue, rule in queues_written_by_rules(template):
            writers.setdefault(queue, set()).add(rule)
        assert writers
        policies = resources(template, "AWS::SQS::QueuePolicy").values()
        for queue, rules in writers.items():
            [policy] = [p for p in policies if p["Properties"]["Queues"] == [{"Ref": queue}]]
            [statement] = statements(policy["Properties"]["PolicyDocument"])
            assert statement["Principal"] == {"Service": "events.amazonaws.com"}
            assert statement["Action"] == "sqs:SendMessage"
            assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
            allowed = present(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
            assert sorted(a["Fn::GetAtt"][0] for a in allowed) == sorted(rules), queue
            assert list(statement["Condition"]) == ["ArnEquals"]


def test_every_queue_is_encrypted():
    for template in (SECURITY, MEMBER):
        for name, queue in resources(template, "AWS::SQS::Queue").items():
            p = queue["Properties"]
            assert p.get("KmsMasterKeyId") == KEY_ARN or p.get("SqsManagedSseEnabled") is True, name


def test_the_buffer_queue_outlives_six_function_timeouts_and_has_a_dead_letter_queue():
    mapping = SECURITY["Mappings"]["VisibilityTimeout"]
    allowed = SECURITY["Parameters"]["FunctionTimeout"]["AllowedValues"]
    assert sorted(int(k) for k in mapping) == sorted(allowed)
    for timeout, row in mapping.items():
        assert row["Seconds"] >= 6 * int(timeout)
    buffer = resources(SECURITY)["BufferQueue"]["Properties"]
    assert buffer["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["BufferDeadLetterQueue", "Arn"]}


def test_the_event_source_mapping_reports_batch_item_failures():
    mapping = resources(SECURITY)["BufferEventSource"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumBatchingWindowInSeconds"] == {
        "Fn::If": ["LargeBatch", {"Ref": "BatchingWindowSeconds"}, {"Ref": "AWS::NoValue"}]}
    large = {v for v in SECURITY["Parameters"]["BatchSize"]["AllowedValues"] if v > 10}
    named = {c["Fn::Equals"][1] for c in SECURITY["Conditions"]["LargeBatch"]["Fn::Or"]}
    assert named == large


def test_every_bus_and_the_archive_are_encrypted_with_the_relay_key_it_lets_eventbridge_use():
    key = resources(SECURITY)["RelayKey"]["Properties"]["KeyPolicy"]
    [buses] = [s for s in statements(key) if s["Sid"] == "EventBridgeEncryptsTheRelayBuses"]
    assert buses["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(buses["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    context = buses["Condition"]["StringEquals"]["kms:EncryptionContext:aws:events:event-bus:arn"]
    assert sorted(context, key=str) == sorted((bus_arn(c) for c in CATEGORIES + ["ingest"]), key=str)
    for name, bus in resources(SECURITY, "AWS::Events::EventBus").items():
        p = bus["Properties"]
        assert p["KmsKeyIdentifier"] == KEY_ARN, name
        assert p["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["BusDeadLetterQueue", "Arn"]}}, name
        assert p["LogConfig"] == {"Level": "ERROR", "IncludeDetail": "NONE"}, name
    assert resources(SECURITY)["IngestArchive"]["Properties"]["KmsKeyIdentifier"] == KEY_ARN


def test_every_bus_delivers_its_error_logs_to_one_encrypted_log_group_that_is_alarmed():
    sources = resources(SECURITY, "AWS::Logs::DeliverySource")
    by_bus = {s["Properties"]["ResourceArn"]["Fn::GetAtt"][0]: n for n, s in sources.items()}
    assert sorted(by_bus) == sorted(resources(SECURITY, "AWS::Events::EventBus"))
    assert all(s["Properties"]["LogType"] == "ERROR_LOGS" for s in sources.values())
    deliveries = resources(SECURITY, "AWS::Logs::Delivery").values()
    assert sorted(d["Properties"]["DeliverySourceName"]["Ref"] for d in deliveries) == sorted(sources)
    assert {str(d["Properties"]["DeliveryDestinationArn"]) for d in deliveries} == {
        str({"Fn::GetAtt": ["BusLogDestination", "Arn"]})}
    destination = resources(SECURITY)["BusLogDestination"]["Properties"]
    assert destination["DestinationResourceArn"] == {"Fn::GetAtt": ["BusLogGroup", "Arn"]}
    assert resources(SECURITY)["BusLogGroup"]["Properties"]["KmsKeyId"] == KEY_ARN
    metric = resources(SECURITY)["BusErrorsMetricFilter"]["Properties"]
    assert metric["LogGroupName"] == {"Ref": "BusLogGroup"}
    alarm = resources(SECURITY)["BusErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("trailrelay", "BusErrors")


def test_tampering_notifies_the_alarm_topic_from_every_category_bus():
    rules = {r["Properties"]["EventBusName"]["Ref"]: (n, r) for n, r in resources(SECURITY, "AWS::Events::Rule").items()
             if "tamper" in n.lower()}
    assert sorted(rules) == sorted(c.capitalize() + "Bus" for c in CATEGORIES)
    for bus, (name, rule) in rules.items():
        assert rule["Condition"] == "HasAlarmTopic", name
        p = rule["Properties"]
        assert p["EventPattern"] == {"source": [{"Ref": "EventSource"}],
                                     "detail": {"enrichment": {"signals": ["relay_tampering"]}}}
        [target] = p["Targets"]
        assert target["Arn"] == {"Ref": "AlarmTopicArn"}


# --- the category buses ------------------------------------------------------------

def test_only_the_enricher_may_publish_on_the_category_buses():
    buses = resources(SECURITY, "AWS::Events::EventBus")
    assert sorted(b["Properties"]["Name"]["Fn::Sub"] for b in buses.values()) == sorted(
        "${NamePrefix}-" + c for c in CATEGORIES + ["ingest"])
    for category in CATEGORIES:
        [bus] = [b for b in buses.values() if b["Properties"]["Name"] == sub("${NamePrefix}-" + category)]
        s = statements(bus["Properties"]["Policy"])
        # The path check and the reconciler (when deployed) report on the
        # audit bus; nothing else publishes anywhere. Whether AWS would let
        # each of them put is judged by test_iam_flows.py.
        roles = ["EnricherRole", "PathCheckRole"] if category == "audit" else ["EnricherRole"]
        arns = [{"Fn::GetAtt": [r, "Arn"]} for r in roles]
        if category == "audit":
            arns.append({"Fn::If": ["HasReconciler", {"Fn::GetAtt": ["ReconcilerRole", "Arn"]}, {"Ref": "AWS::NoValue"}]})
        [allow] = [x for x in s if x["Sid"] == "RelayPublishes"]
        assert as_list(allow["Principal"]["AWS"]) == arns
        assert allow["Resource"] == bus_arn(category)
        [deny] = [x for x in s if x["Effect"] == "Deny"]
        assert deny["Principal"] == "*" and deny["Action"] == "events:PutEvents"
        assert deny["Resource"] == bus_arn(category)
        assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": arns}}


def test_consumers_manage_only_rules_they_create_on_the_category_buses():
    for bus in resources(SECURITY, "AWS::Events::EventBus").values():
        name = bus["Properties"]["Name"]["Fn::Sub"]
        if name.endswith("-ingest"):
            continue
        [consumer] = [x for x in statements(bus["Properties"]["Policy"]) if x.get("Sid") == "ConsumersManageTheirOwnRules"]
        assert consumer["Principal"] == {"AWS": {"Ref": "ConsumerAccountIds"}}
        # PutTargets has a statement of its own (tests/templates/test_aws_requirements.py).
        assert sorted(consumer["Action"]) == sorted([
            "events:PutRule", "events:DeleteRule", "events:RemoveTargets", "events:DescribeRule",
            "events:EnableRule", "events:DisableRule", "events:ListTargetsByRule",
            # AWS::Events::Rule's handlers tag what they create (test_iam_flows.py judges each call).
            "events:TagResource", "events:UntagResource", "events:ListTagsForResource"])
        assert consumer["Resource"]["Fn::Sub"].endswith(":rule/" + name + "/${!aws:PrincipalAccount}-*")
        assert consumer["Condition"] == {
            "StringEqualsIfExists": {"events:creatorAccount": "${aws:PrincipalAccount}"}}


# --- IAM ---------------------------------------------------------------------------

# Actions that have no resource-level permissions: "*" is the only resource.
NO_RESOURCE_LEVEL = {
    "organizations:ListRoots", "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListAccountsForParent", "organizations:ListTagsForResource",
    "cloudtrail:DescribeTrails", "cloudwatch:GetMetricStatistics",
    # Lambda's VPC access (only with VpcId).
    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
}


def test_no_iam_statement_has_a_wildcard_action_or_resource():
    for template in (SECURITY, MEMBER_ROLES):
        for role, s in iam_statements(template):
            for action in as_list(s["Action"]):
                assert action != "*" and not action.endswith(":*"), (role, action)
            for resource in as_list(s["Resource"]):
                if resource == "*":
                    assert set(as_list(s["Action"])) <= NO_RESOURCE_LEVEL, (role, s)


def test_the_enricher_may_put_events_on_exactly_the_category_buses():
    events = [s for r, s in iam_statements(SECURITY)
              if r == "EnricherRole" and any(a.startswith("events:") for a in as_list(s["Action"]))]
    [statement] = events
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == [bus_arn(c) for c in CATEGORIES]


def test_roles_trust_only_their_service_in_their_own_account():
    trust = resources(SECURITY)["EnricherRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                      "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]
    trust = resources(MEMBER_ROLES)["ForwarderRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                      "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]


def test_the_forwarder_may_put_events_on_the_ingest_bus_only():
    [statement] = [s for r, s in iam_statements(MEMBER_ROLES) if r == "ForwarderRole"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Ref": "IngestBusArn"}


def test_the_forward_rule_uses_the_forwarder_role_made_once_per_account():
    role = resources(MEMBER_ROLES)["ForwarderRole"]
    assert "Condition" not in role
    assert role["Properties"]["RoleName"] == sub("${NamePrefix}-forwarder")
    [target] = resources(MEMBER)["ForwardRule"]["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "IngestBusArn"}
    assert target["RoleArn"] == sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${NamePrefix}-forwarder")
    assert resources(MEMBER)["ForwardRule"]["Properties"]["EventBusName"] == "default"


def role_arns_named(value):
    """Every RoleArn a resolved resource's properties name."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "RoleArn"] + [a for v in value.values() for a in role_arns_named(v)]
    if isinstance(value, list):
        return [a for v in value for a in role_arns_named(v)]
    return []


def test_iam_is_global_so_the_regional_member_stack_makes_no_role_and_names_only_the_roles_stacks():
    # A regional stack that made the roles in one region left the others
    # naming roles that might not exist yet when auto-deployment ran them
    # in another order (operation preferences do not apply to it).
    assert [rid for rid, r in resources(MEMBER).items() if r["Type"].startswith("AWS::IAM::")] == []
    # Every instance of either stack is the same stack, whatever its region.
    for template in (MEMBER, MEMBER_ROLES):
        assert "AWS::Region" not in repr(template.get("Conditions", {})), template["Description"]
    assert {rid: r.get("Condition") for rid, r in resources(MEMBER_ROLES).items()} == {
        "ForwarderRole": None, "HeartbeatRole": None, "DoctorRole": "HasSecurityAccount"}
    parameters = {"IngestBusArn": INGEST_BUS, "SecurityAccountId": "111111111111"}
    roles = Template("member-roles.yaml", "123456789012", parameters)
    made = {roles.arn_of(rid) for rid in roles.resources("AWS::IAM::Role")}
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        regional = Template("member-account.yaml", "123456789012", {"IngestBusArn": INGEST_BUS}, region=region)
        named = {a for rid in regional.doc["Resources"] for a in role_arns_named(regional.props(rid))}
        assert named == {roles.arn_of("ForwarderRole"), roles.arn_of("HeartbeatRole")}, region
        assert named <= made
    # A parameter both take means the same in both (one value passed to both StackSets).
    for name in set(MEMBER["Parameters"]) & set(MEMBER_ROLES["Parameters"]):
        regional, global_ = (dict(t["Parameters"][name]) for t in (MEMBER, MEMBER_ROLES))
        regional.pop("Description"), global_.pop("Description")
        assert regional == global_, name
    assert {"IngestBusArn", "NamePrefix", "ControlSource"} <= set(MEMBER["Parameters"]) & set(MEMBER_ROLES["Parameters"])


def test_the_doctor_role_reads_and_sends_only_control_events():
    doctor = resources(MEMBER_ROLES)["DoctorRole"]
    assert doctor["Condition"] == "HasSecurityAccount"
    allowed = [(a, s) for r, s in iam_statements(MEMBER_ROLES) if r == "DoctorRole" for a in as_list(s["Action"])]
    writes = [a for a, _ in allowed if not a.split(":")[1].startswith(("Describe", "List", "Get"))]
    assert writes == ["events:PutEvents"]
    [put] = [s for a, s in allowed if a == "events:PutEvents"]
    assert put["Resource"]["Fn::Sub"].endswith(":event-bus/default")
    # The test event only, never a heartbeat, alone or in a batch: the
    # evaluator judges the condition (test_iam_flows.py), not this reading.
    assert "Condition" in put
    # It reads the trails (no trail, no events) and nothing else of CloudTrail.
    trail_actions = sorted(a for a, _ in allowed if a.startswith("cloudtrail:"))
    assert trail_actions == ["cloudtrail:DescribeTrails", "cloudtrail:GetEventSelectors", "cloudtrail:GetTrailStatus"]


# --- the function as we build it ---------------------------------------------------------

@pytest.mark.parametrize("name,binary", [("Enricher", "trailrelay-enricher"), ("AccountSync", "trailrelay-account-sync"),
                                         ("PathCheck", "trailrelay-path-check")])
def test_the_functions_are_built_and_run_as_we_build_them(name, binary):
    fn = resources(SECURITY, "AWS::Serverless::Function")[name]
    p = fn["Properties"]
    assert p["Runtime"] == "provided.al2023"
    assert p["Architectures"] == ["arm64"]
    assert p["Handler"] == "bootstrap"
    assert fn["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert fn["Metadata"]["BuildProperties"]["Binary"] == binary
    assert p["KmsKeyArn"] == KEY_ARN


def test_the_enricher_names_every_bus():
    fn = resources(SECURITY, "AWS::Serverless::Function")["Enricher"]
    p = fn["Properties"]
    assert p["Runtime"] == "provided.al2023"
    assert p["Architectures"] == ["arm64"]
    assert p["Handler"] == "bootstrap"
    assert fn["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert fn["Metadata"]["BuildProperties"]["Binary"] == "trailrelay-enricher"
    variables = p["Environment"]["Variables"]
    for c in CATEGORIES:
        assert variables["TRAILRELAY_BUS_" + c.upper()] == {"Fn::GetAtt": [c.capitalize() + "Bus", "Arn"]}
    assert variables["TRAILRELAY_SOURCE"] == {"Ref": "EventSource"}


def test_direct_mode_keeps_failures_on_a_destination():
    config = resources(SECURITY)["EnricherInvokeConfig"]
    assert config["Condition"] == "IsDirect"
    assert config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["EnricherFailureQueue", "Arn"]}
    permission = resources(SECURITY)["EnricherInvokePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["IngestRule", "Arn"]}


def test_alarms_watch_every_dead_letter_queue():
    alarmed = set()
    for alarm in resources(SECURITY, "AWS::CloudWatch::Alarm").values():
        for d in alarm["Properties"].get("Dimensions", []):
            if d["Name"] == "QueueName":
                alarmed.add(d["Value"]["Fn::GetAtt"][0])
    queues = {n for n in resources(SECURITY, "AWS::SQS::Queue") if n != "BufferQueue"}
    assert alarmed == queues
    metrics = {a["Properties"]["MetricName"] for a in resources(SECURITY, "AWS::CloudWatch::Alarm").values()}
    assert {"FailedInvocations", "Errors", "Throttles", "Failed"} <= metrics


def test_outputs_give_member_accounts_the_ingest_bus():
    assert SECURITY["Outputs"]["IngestBusArn"]["Value"] == {"Fn::GetAtt": ["IngestBus", "Arn"]}
    for c in CATEGORIES:
        assert SECURITY["Outputs"][c.capitalize() + "BusArn"]["Value"] == {"Fn::GetAtt": [c.capitalize() + "Bus", "Arn"]}


# --- the account directory ------------------------------------------------------------

def test_the_directory_bucket_is_private_encrypted_versioned_and_tls_only():
    bucket = resources(SECURITY)["DirectoryBucket"]["Properties"]
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    [tls] = statements(resources(SECURITY)["DirectoryBucketPolicy"]["Properties"]["PolicyDocument"])
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_enricher_may_read_only_the_latest_directory():
    s3 = [s for r, s in iam_statements(SECURITY) if r == "EnricherRole" and any(a.startswith("s3:") for a in as_list(s["Action"]))]
    assert s3 == [{"Sid": "ReadTheAccountDirectory", "Effect": "Allow", "Action": "s3:GetObject",
                   "Resource": sub("${DirectoryBucket.Arn}/latest.json")}]
    variables = resources(SECURITY)["Enricher"]["Properties"]["Environment"]["Variables"]
    assert variables["TRAILRELAY_DIRECTORY_BUCKET"] == {"Ref": "DirectoryBucket"}
    assert variables["TRAILRELAY_DIRECTORY_KEY"] == "latest.json"


def test_account_sync_reads_organizations_and_writes_only_snapshots():
    allowed = [s for r, s in iam_statements(SECURITY) if r == "AccountSyncRole"]
    actions = {a for s in allowed for a in as_list(s["Action"])}
    assert {a for a in actions if a.startswith("organizations:")} == {
        a for a in NO_RESOURCE_LEVEL if a.startswith("organizations:")}
    assert {a for a in actions if a.startswith("s3:")} == {"s3:PutObject"}
    [put] = [s for s in allowed if s["Action"] == "s3:PutObject"]
    assert put["Resource"] == [sub("${DirectoryBucket.Arn}/snapshots/*"), sub("${DirectoryBucket.Arn}/latest.json")]
    [assume] = [s for s in allowed if s["Action"] == "sts:AssumeRole"]
    assert assume["Resource"] == {"Ref": "OrganizationsRoleArn"}


def test_account_sync_runs_on_a_schedule_and_on_organizations_changes():
    changes = resources(SECURITY)["OrganizationsChangesRule"]["Properties"]
    assert changes["EventBusName"] == {"Ref": "GovernanceBus"}
    assert changes["EventPattern"]["source"] == [{"Ref": "EventSource"}]
    assert changes["EventPattern"]["detail"]["eventSource"] == ["organizations.amazonaws.com"]
    assert {"CreateAccountResult", "MoveAccount", "TagResource", "UntagResource", "CloseAccount",
            "RemoveAccountFromOrganization", "AcceptHandshake"} <= set(changes["EventPattern"]["detail"]["eventName"])
    schedule = resources(SECURITY)["DirectoryScheduleRule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "DirectorySyncSchedule"}
    permissions = [p["Properties"] for p in resources(SECURITY, "AWS::Lambda::Permission").values()
                   if p["Properties"]["FunctionName"] == {"Fn::GetAtt": ["AccountSync", "Arn"]}]
    assert sorted(p["SourceArn"]["Fn::GetAtt"][0] for p in permissions) == ["DirectoryScheduleRule", "OrganizationsChangesRule"]


# --- tags ------------------------------------------------------------------------------

# Every type these templates use, by whether it takes tags.
TAKES_TAGS = {
    "AWS::KMS::Key", "AWS::Events::EventBus", "AWS::Events::Rule", "AWS::SQS::Queue",
    "AWS::Lambda::EventSourceMapping", "AWS::IAM::Role", "AWS::Logs::LogGroup", "AWS::S3::Bucket",
    "AWS::CloudWatch::Alarm", "AWS::Serverless::Function", "AWS::DynamoDB::Table",
    "AWS::Organizations::Policy", "AWS::Logs::DeliverySource", "AWS::Logs::DeliveryDestination",
    "AWS::Logs::Delivery", "AWS::EC2::SecurityGroup", "AWS::EC2::VPCEndpoint", "AWS::KinesisFirehose::DeliveryStream",
}
TAKES_NO_TAGS = {
    "AWS::KMS::Alias", "AWS::Events::Archive", "AWS::SQS::QueuePolicy", "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig", "AWS::S3::BucketPolicy",
    # Schedules take no tags (only schedule groups do).
    "AWS::Scheduler::Schedule", "AWS::Logs::ResourcePolicy", "AWS::Logs::MetricFilter",
    "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress",
}
REQUIRED_TAGS = {"Application": {"Ref": "TagApplication"}, "Environment": {"Ref": "TagEnvironment"},
                 "Owner": {"Ref": "TagOwner"}}


@pytest.mark.parametrize("template", [SECURITY, MEMBER_ROLES, MEMBER, GUARDRAILS, CONSUMER, SUBSCRIPTION],
                         ids=["template.yaml", "member-roles.yaml", "member-account.yaml", "organization-guardrails.yaml",
                              "consumer-account.yaml", "security-subscription.yaml"])
def test_nothing_is_untagged(template):
    for name, resource in resources(template).items():
        kind = resource["Type"]
        assert kind in TAKES_TAGS | TAKES_NO_TAGS, f"{name}: decide whether {kind} takes tags"
        if kind in TAKES_NO_TAGS:
            continue
        if name == "SubscriptionRule" and template is CONSUMER:
            # A rule on the security account's bus: tagging it would need
            # events:TagResource there, which the bus policy does not grant.
            assert "Tags" not in resource["Properties"]
            continue
        tags = resource["Properties"].get("Tags")
        assert tags is not None, f"{name} is untagged"
        as_map = tags if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags}
        for key, value in REQUIRED_TAGS.items():
            assert as_map.get(key) == value, f"{name}: tag {key}"
        assert template["Parameters"][value["Ref"]]["Type"] == "String"


# --- path health ----------------------------------------------------------------------

def test_each_member_region_sends_heartbeats_along_the_forwarding_path():
    schedule = resources(MEMBER)["HeartbeatSchedule"]["Properties"]
    assert schedule["Name"] == sub("${NamePrefix}-heartbeat")
    assert schedule["ScheduleExpression"] == sub("rate(${HeartbeatMinutes} minutes)")
    assert MEMBER["Parameters"]["HeartbeatMinutes"]["MinValue"] >= 2, "rate(1 minutes) is not a valid expression"
    target = schedule["Target"]
    # On the default bus, so that the forward rule (and its role) carry it.
    assert target["Arn"] == sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default")
    assert target["EventBridgeParameters"] == {"Source": {"Ref": "ControlSource"}, "DetailType": "trailrelay Heartbeat"}
    assert '"account":"${AWS::AccountId}"' in target["Input"]["Fn::Sub"]
    assert '"region":"${AWS::Region}"' in target["Input"]["Fn::Sub"]
    for excluded in ({}, {"ForwardExcludedEventSources": "kms.amazonaws.com", "ForwardExcludedEventNames": "Decrypt"}):
        pattern = member(ControlSource="my.control", **excluded).props("ForwardRule")["EventPattern"]
        assert "trailrelay Heartbeat" in pattern["detail-type"]
        assert "my.control" in pattern["source"]


def test_the_heartbeat_role_may_only_put_control_events_on_the_default_bus():
    role = resources(MEMBER_ROLES)["HeartbeatRole"]
    assert "Condition" not in role
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    [put] = [s for r, s in iam_statements(MEMBER_ROLES) if r == "HeartbeatRole"]
    assert put["Action"] == "events:PutEvents"
    assert put["Resource"]["Fn::Sub"].endswith(":event-bus/default")
    assert "Condition" in put  # which events it admits: judged in test_iam_flows.py
    target = resources(MEMBER)["HeartbeatSchedule"]["Properties"]["Target"]
    assert target["RoleArn"] == sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${NamePrefix}-heartbeat")


def test_the_paths_table_is_encrypted_with_the_relay_key_and_recoverable():
    table = resources(SECURITY)["PathsTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "path", "KeyType": "HASH"}]
    assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS",
                                         "KMSMasterKeyId": KEY_ARN}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_enricher_only_writes_heartbeats_and_the_check_reads_marks_and_reports():
    enricher = [s for r, s in iam_statements(SECURITY) if r == "EnricherRole"
                and any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert [(s["Action"], s["Resource"]) for s in enricher] == [
        ("dynamodb:UpdateItem", {"Fn::GetAtt": ["PathsTable", "Arn"]})]
    check = {a: s["Resource"] for r, s in iam_statements(SECURITY) if r == "PathCheckRole" for a in as_list(s["Action"])}
    assert check["dynamodb:Scan"] == check["dynamodb:UpdateItem"] == {"Fn::GetAtt": ["PathsTable", "Arn"]}
    assert check["events:PutEvents"] == bus_arn("audit")
    assert check["s3:GetObject"] == {"Fn::Sub": "${DirectoryBucket.Arn}/latest.json"}


def test_the_check_runs_on_a_schedule_and_silence_is_alarmed_even_when_the_check_stops():
    env = resources(SECURITY)["PathCheck"]["Properties"]["Environment"]["Variables"]
    assert env["TRAILRELAY_ENROLLED_REGIONS"] == {"Ref": "EnrolledRegions"}
    assert env["TRAILRELAY_SILENCE_THRESHOLD_SECS"] == {"Ref": "SilenceThresholdSeconds"}
    assert env["TRAILRELAY_BUS_AUDIT"] == {"Fn::GetAtt": ["AuditBus", "Arn"]}
    assert resources(SECURITY)["Enricher"]["Properties"]["Environment"]["Variables"]["TRAILRELAY_PATHS_TABLE"] == {
        "Ref": "PathsTable"}
    [target] = resources(SECURITY)["PathCheckScheduleRule"]["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["PathCheck", "Arn"]}
    alarm = resources(SECURITY)["SilentPathsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("trailrelay", "SilentPaths")
    assert alarm["TreatMissingData"] == "breaching"


def test_both_templates_share_the_name_prefix_that_tampering_is_judged_by():
    for template in (SECURITY, MEMBER):
        assert template["Parameters"]["NamePrefix"]["Default"] == "trailrelay"
    assert resources(SECURITY)["Enricher"]["Properties"]["Environment"]["Variables"]["TRAILRELAY_NAME_PREFIX"] == {
        "Ref": "NamePrefix"}


# --- prevention --------------------------------------------------------------------------

def test_the_guardrail_denies_changing_the_forwarding_path_to_all_but_the_deployment_role():
    [policy] = resources(GUARDRAILS, "AWS::Organizations::Policy").values()
    p = policy["Properties"]
    assert p["Type"] == "SERVICE_CONTROL_POLICY"
    denied = {}
    for s in p["Content"]["Statement"]:
        assert s["Effect"] == "Deny"
        if s["Sid"] != "OnlyTheHeartbeatAndDoctorRolesPutControlEvents":  # judged in test_iam_flows.py
            assert s["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": sub(
                "arn:${AWS::Partition}:iam::*:role/${DeploymentRoleName}")}}, s["Sid"]
        for action in as_list(s["Action"]):
            denied.setdefault(action, []).extend(as_list(s["Resource"]))
    # What the member stack creates, by the names relay_tampering watches.
    forward_rule = sub("arn:${AWS::Partition}:events:*:*:rule/${NamePrefix}-forward")
    for action in ["events:DisableRule", "events:EnableRule", "events:DeleteRule", "events:PutRule",
                   "events:PutTargets", "events:RemoveTargets"]:
        assert denied[action] == [forward_rule], action
    roles = [sub("arn:${AWS::Partition}:iam::*:role/${NamePrefix}-forwarder"),
             sub("arn:${AWS::Partition}:iam::*:role/${NamePrefix}-heartbeat"),
             sub("arn:${AWS::Partition}:iam::*:role/${NamePrefix}-doctor")]
    for action in ["iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
                   "iam:UpdateAssumeRolePolicy", "iam:DeleteRole"]:
        assert denied[action] == roles + [sub("arn:${AWS::Partition}:iam::*:role/${DeploymentRoleName}")], action
    # Nobody but that role makes or changes a role of its name (test_iam_flows.py judges the attack).
    # Nor makes a role of the path's names (exempt by name from the control-event Deny).
    assert denied["iam:CreateRole"] == roles + [sub("arn:${AWS::Partition}:iam::*:role/${DeploymentRoleName}")]
    assert denied["scheduler:DeleteSchedule"] == [sub("arn:${AWS::Partition}:scheduler:*:*:schedule/*/${NamePrefix}-heartbeat")]
    for action in ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail",
                   "cloudtrail:PutEventSelectors", "cloudtrail:PutInsightSelectors"]:
        assert denied[action] == [{"Ref": "OrganizationTrailArn"}], action
    # The member stack's names follow the same prefix.
    for template in (MEMBER, MEMBER_ROLES):
        for parameter in ("NamePrefix", "ControlSource"):
            assert template["Parameters"][parameter]["Default"] == GUARDRAILS["Parameters"][parameter]["Default"]
    assert resources(MEMBER_ROLES)["HeartbeatRole"]["Properties"]["RoleName"] == sub("${NamePrefix}-heartbeat")


def test_a_user_may_bring_their_own_key_for_every_store():
    assert SECURITY["Conditions"]["CreateRelayKey"] == {"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}
    for name in ("RelayKey", "RelayKeyAlias"):
        assert resources(SECURITY)[name]["Condition"] == "CreateRelayKey"

    def mentions(value):
        if isinstance(value, dict):
            if value in ({"Fn::GetAtt": ["RelayKey", "Arn"]}, {"Ref": "RelayKey"}):
                return [value]
            if value == KEY_ARN:
                return []
            return [m for v in value.values() for m in mentions(v)]
        if isinstance(value, list):
            return [m for v in value for m in mentions(v)]
        return []
    for name, resource in resources(SECURITY).items():
        if name != "RelayKeyAlias":
            assert mentions(resource.get("Properties", {})) == [], f"{name} names the stack's key outside KEY_ARN"


# --- both network shapes, resolved as CloudFormation would ------------------------------

def resolved(parameters):
    return Template("template.yaml", "123456789012", {"OrganizationId": "o-exampleorgid", **parameters})


VPC = {"VpcId": "vpc-0123abcd", "SubnetIds": ["subnet-0a1b", "subnet-0c2d"], "RouteTableIds": ["rtb-0e3f"]}


def test_by_default_no_function_runs_in_a_vpc_and_there_are_no_endpoints():
    t = resolved({})
    assert t.resources("AWS::EC2::VPCEndpoint") == {}
    assert t.resources("AWS::EC2::SecurityGroup") == {}
    for name in t.resources("AWS::Serverless::Function"):
        assert "VpcConfig" not in t.props(name), name
    for role in ("EnricherRole", "PathCheckRole"):
        actions = [a for policy in t.props(role)["Policies"] for s in policy["PolicyDocument"]["Statement"]
                   for a in as_list(s["Action"])]
        assert not any(a.startswith("ec2:") for a in actions), role


def test_in_a_vpc_the_functions_reach_only_the_relays_resources_through_endpoints():
    t = resolved(VPC)
    endpoints = {t.props(n)["ServiceName"].split(".")[-1]: t.props(n) for n in t.resources("AWS::EC2::VPCEndpoint")}
    assert sorted(endpoints) == ["dynamodb", "events", "kms", "s3", "sts"]
    for service in ("events", "kms", "sts"):
        e = endpoints[service]
        assert e["VpcEndpointType"] == "Interface" and e["PrivateDnsEnabled"] is True
        assert e["SubnetIds"] == VPC["SubnetIds"]
    for service in ("s3", "dynamodb"):
        assert endpoints[service]["VpcEndpointType"] == "Gateway"
        assert endpoints[service]["RouteTableIds"] == VPC["RouteTableIds"]
    allowed = {service: [r for s in e["PolicyDocument"]["Statement"] for r in as_list(s["Resource"])]
               for service, e in endpoints.items()}
    prefix = "arn:aws:events:us-east-1:123456789012:event-bus/trailrelay-"
    assert sorted(allowed["events"]) == sorted(prefix + c for c in CATEGORIES)
    assert allowed["kms"] == [t.arn_of("RelayKey")]
    assert allowed["s3"] == [t.arn_of("DirectoryBucket") + "/latest.json"]
    assert allowed["dynamodb"] == [t.arn_of("PathsTable")]
    assert allowed["sts"] == ["arn:aws:iam::123456789012:role/trailrelay-*"]
    functions = {n: t.props(n) for n in t.resources("AWS::Serverless::Function")}
    for name in ("Enricher", "PathCheck"):
        assert functions[name]["VpcConfig"] == {"SecurityGroupIds": ["FunctionSecurityGroup"],
                                                "SubnetIds": VPC["SubnetIds"]}, name
    # Organizations answers from us-east-1 only: account-sync stays outside.
    assert "VpcConfig" not in functions["AccountSync"]
    egress = t.props("FunctionEgressToEndpoints")
    assert (egress["GroupId"], egress["DestinationSecurityGroupId"]) == ("FunctionSecurityGroup", "EndpointSecurityGroup")
    ingress = t.props("EndpointIngressFromFunctions")
    assert (ingress["FromPort"], ingress["ToPort"], ingress["SourceSecurityGroupId"]) == (443, 443, "FunctionSecurityGroup")


def test_in_a_vpc_with_existing_endpoints_the_stack_creates_none_and_touches_no_route_table():
    existing = ["vpce-0aaa", "vpce-0bbb", "vpce-0ccc", "vpce-0ddd", "vpce-0eee"]
    t = resolved({**VPC, "CreateVpcEndpoints": "false", "ExistingVpcEndpointIds": existing})
    # Private DNS answers for the whole VPC and gateway policies bind every
    # subnet of their route tables: with existing endpoints, none of that.
    assert t.resources("AWS::EC2::VPCEndpoint") == {}
    assert "EndpointSecurityGroup" not in t.resources("AWS::EC2::SecurityGroup")
    assert t.resources("AWS::EC2::SecurityGroupIngress") == {} and t.resources("AWS::EC2::SecurityGroupEgress") == {}
    egress = t.props("FunctionSecurityGroup")["SecurityGroupEgress"]
    assert [(e["FromPort"], e["CidrIp"]) for e in egress] == [(443, "0.0.0.0/0")]
    for name in ("Enricher", "PathCheck"):
        assert t.props(name)["VpcConfig"]["SubnetIds"] == VPC["SubnetIds"], name
    assert "ExistingEndpointsAreNamed" in SECURITY["Rules"]
    # Both shapes say which endpoints the functions use.
    assert "VpcEndpointIds" in SECURITY["Outputs"]


def test_every_log_group_is_encrypted_kept_and_the_key_admits_exactly_them():
    groups = resources(SECURITY, "AWS::Logs::LogGroup")
    names = []
    for name, group in groups.items():
        p = group["Properties"]
        assert p["KmsKeyId"] == KEY_ARN, name
        assert p["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        names.append(p["LogGroupName"]["Fn::Sub"])
    key = resources(SECURITY)["RelayKey"]["Properties"]["KeyPolicy"]
    [logs] = [s for s in statements(key) if s["Sid"] == "LogsEncryptTheEnricherLogGroup"]
    assert logs["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    admitted = [a["Fn::Sub"] for a in logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]]
    assert sorted(admitted) == sorted(
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:" + n for n in names)
    # Every statement of the key policy but the account's own names one
    # service or the consumer accounts, and a condition; only DescribeKey,
    # which reveals no data, goes without (as in AWS's own example).
    for s in statements(key):
        if s["Sid"] == "AccountAdministersTheKeyThroughIam":
            continue
        if s["Action"] == "kms:DescribeKey":
            assert s["Principal"] == {"Service": "events.amazonaws.com"}, s["Sid"]
            continue
        if s["Principal"] == {"AWS": {"Ref": "ConsumerAccountIds"}}:
            assert s["Condition"]["StringEquals"]["kms:ViaService"], s["Sid"]
            continue
        assert "Service" in s["Principal"] and s.get("Condition"), s["Sid"]


@pytest.mark.parametrize("role,services", [
    ("EnricherRole", {"sqs", "lambda", "s3", "dynamodb"}),
    ("AccountSyncRole", {"s3", "lambda"}),
    ("PathCheckRole", {"dynamodb", "s3", "lambda"}),
])
def test_each_function_uses_the_key_only_through_the_services_that_need_it(role, services):
    [statement] = [s for r, s in iam_statements(SECURITY) if r == role
                   and any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Resource"] == KEY_ARN
    via = statement["Condition"]["StringEquals"]["kms:ViaService"]
    assert {v["Fn::Sub"].split(".")[0] for v in via} == services


# --- the forward rule's exclusion (issue 18) --------------------------------------------

def cli(*args):
    """The trailrelay command's stdout (built as `make validate` builds it)."""
    import subprocess
    return subprocess.run(["cargo", "run", "-q", "-p", "trailrelay", "--", *args], cwd=ROOT,
                          check=True, capture_output=True, text=True).stdout


def test_without_an_exclusion_the_forward_rule_forwards_as_before():
    pattern = member().props("ForwardRule")["EventPattern"]
    assert "$or" not in pattern
    assert MEMBER["Parameters"]["ForwardExcludedEventNames"]["Default"] == ""
    assert MEMBER["Parameters"]["ForwardExcludedEventSources"]["Default"] == ""
    # One list without the other is refused before anything is made.
    rule = MEMBER["Rules"]["ExclusionNeedsBothLists"]
    assert rule["Assertions"][0]["Assert"]["Fn::And"]


def test_with_an_exclusion_the_forward_rule_has_the_pattern_filter_suggest_builds():
    import json
    sources, names = "kms.amazonaws.com,s3.amazonaws.com", "Decrypt,GenerateDataKey,GetObject"
    account = "222233334444"
    t = Template("member-account.yaml", account, {"IngestBusArn": INGEST_BUS, "ControlSource": "my.control",
                                                  "ForwardExcludedEventSources": sources,
                                                  "ForwardExcludedEventNames": names})
    resolved = t.props("ForwardRule")["EventPattern"]
    built = json.loads(cli("filter", "pattern", "--event-sources", sources, "--event-names", names,
                           "--account", account, "--control-source", "my.control"))
    assert resolved == built
    # What EventBridge is sent fits its default limit, with room to spare.
    assert len(json.dumps(resolved, separators=(",", ":"))) <= 2048
