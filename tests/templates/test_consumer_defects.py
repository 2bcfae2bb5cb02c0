"""The consumer paths (consumer-account.yaml, security-subscription.yaml and
docs/consumers.md), held to what AWS documents: the defects an independent
review found, each with the test that failed before its fix.

Read as CloudFormation resolves the templates (localaws.Template, the e2e
harness's resolver). The handlers' permissions and the name limits come
from the CloudFormation resource schemas that cfn-lint ships (the registry's
`aws cloudformation describe-type` schemas), except SQS's queue name limit,
which its schema leaves out ("A queue name can have up to 80 characters":
CreateQueue).

TRAILRELAY_CONSUMER_DEFECTS_BASE names another folder holding the same
three files (say, `git show HEAD:<file>` of each): the tests then read
those, which is how to see them fail on the templates before the fixes.
"""
import json
import os
import re
import shlex

import cfnlint
import pytest

from localaws import ROOT, Template

BASE = os.environ.get("TRAILRELAY_CONSUMER_DEFECTS_BASE", ROOT)
CONSUMER = "consumer-account.yaml"
SUBSCRIPTION = "security-subscription.yaml"
DOC = "docs/consumers.md"
# The accounts and region docs/consumers.md's examples use.
DOC_SECURITY = "222222222222"
DOC_CONSUMER = "444455556666"
DOC_REGION = "eu-west-1"
REGION = "us-east-1"
KEY = f"arn:aws:kms:{REGION}:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321"


def template(name, account, parameters=None, region=REGION):
    return Template(os.path.join(BASE, name), account, parameters or {}, region=region)


def doc_text():
    with open(os.path.join(BASE, DOC)) as f:
        return f.read()


def blocks(language):
    return re.findall(r"```" + language + r"\n(.*?)```", doc_text(), re.S)


def doc_statements():
    """Every IAM or key policy statement in the doc's JSON blocks."""
    for block in blocks("json"):
        try:
            docs = [json.loads(block)]
        except ValueError:
            docs = []
            for line in block.splitlines():
                try:
                    docs.append(json.loads(line))
                except ValueError:
                    pass
        for d in docs:
            if isinstance(d, dict) and "Statement" in d:
                yield from d["Statement"]
            elif isinstance(d, dict) and "Effect" in d:
                yield d


def as_list(value):
    return value if isinstance(value, list) else [value]


def schema(kind):
    """The CloudFormation resource schema of a resource type."""
    folder = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
    with open(os.path.join(folder, "providers", "us-east-1.json")) as f:
        digest = json.load(f)[kind]
    with open(os.path.join(folder, "resources", digest + ".json")) as f:
        return json.load(f)


def role_statements(t, role):
    return [s for p in t.props(role).get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


# --- 9. a subscription to a queue or topic under a customer-managed key ----------------

@pytest.mark.parametrize("target,service", [
    ("arn:aws:sqs:us-east-1:444455556666:soc-queue", "sqs"),
    ("arn:aws:sns:us-east-1:444455556666:soc-topic", "sns"),
    ("arn:aws:lambda:us-east-1:444455556666:function:soc", None),
    ("arn:aws:events:us-east-1:444455556666:event-bus/soc", None),
])
def test_the_subscription_role_may_use_the_target_key_only_through_sqs_or_sns(target, service):
    parameter = template(SUBSCRIPTION, "123456789012").doc["Parameters"]["TargetKeyArn"]
    assert parameter.get("Default") == ""
    pattern = parameter["AllowedPattern"]
    assert re.fullmatch(pattern, KEY) and re.fullmatch(pattern, "")
    # IAM names the key by its ARN; an alias would match nothing.
    assert not re.fullmatch(pattern, "arn:aws:kms:us-east-1:444455556666:alias/aws/sqs")
    base = {"SubscriptionName": "soc", "Category": "identity", "TargetArn": target}
    t = template(SUBSCRIPTION, "123456789012", {**base, "TargetKeyArn": KEY})
    kms = [s for s in role_statements(t, "SubscriptionRole")
           if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    if service is None:
        assert kms == [], "a function or bus stores nothing under the target's key"
    else:
        assert kms == [{"Sid": "UseTheTargetsKeyThroughItsServiceOnly", "Effect": "Allow",
                        "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": KEY,
                        "Condition": {"StringEquals": {"kms:ViaService": f"{service}.{REGION}.amazonaws.com"}}}]
    # Without a key, the role has no KMS permission at all.
    plain = template(SUBSCRIPTION, "123456789012", base)
    assert not [s for s in role_statements(plain, "SubscriptionRole")
                if any(a.startswith("kms:") for a in as_list(s["Action"]))]


def documented_commands():
    """Each `aws cloudformation deploy|create-stack` in the doc's sh blocks:
    (template file, capabilities, parameters)."""
    out = []
    for block in blocks("sh"):
        for command in block.replace("\\\n", " ").splitlines():
            if not re.match(r"\s*aws cloudformation (deploy|create-stack) ", command):
                continue
            words = shlex.split(command, comments=True)
            name, capabilities, parameters, key = None, [], {}, None
            for w in words[3:]:
                if w.startswith("--"):
                    key = w
                    continue
                if key == "--template-file":
                    name = w
                elif key == "--template-body":
                    name = w.removeprefix("file://")
                elif key == "--capabilities":
                    capabilities.append(w)
                elif key == "--parameter-overrides":
                    k, _, v = w.partition("=")
                    parameters[k] = v
                elif key == "--parameters":
                    fields = dict(f.split("=", 1) for f in w.split(","))
                    parameters[fields["ParameterKey"]] = fields["ParameterValue"]
            out.append((name, capabilities, parameters))
    return out


def test_the_doc_shows_the_target_keys_policy_for_the_role_the_documented_subscription_makes():
    [(_, _, parameters)] = [c for c in documented_commands() if c[0] == SUBSCRIPTION]
    region = parameters["TargetArn"].split(":")[3]
    assert "TargetKeyArn" in parameters, "the documented subscription is to a queue under a key"
    t = template(SUBSCRIPTION, DOC_SECURITY, parameters, region=region)
    role = t.arn_of("SubscriptionRole")
    [ours] = [s for s in role_statements(t, "SubscriptionRole") if s.get("Sid") == "UseTheTargetsKeyThroughItsServiceOnly"]
    # The other half, in the target's account: the key policy admits the same role, the same way.
    theirs = [s for s in doc_statements() if s.get("Principal") == {"AWS": role}
              and any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert len(theirs) == 1, "the doc shows the key policy statement for the subscription's role"
    [s] = theirs
    assert s["Effect"] == "Allow" and sorted(as_list(s["Action"])) == sorted(ours["Action"])
    assert s["Condition"] == ours["Condition"]


# --- 10. the consumer path ----------------------------------------------------------------

NAMED_IAM = {"AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName",
             "AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::IAM::InstanceProfile": "InstanceProfileName"}


def test_documented_stack_commands_acknowledge_named_iam_and_pass_what_the_template_requires():
    commands = documented_commands()
    assert {c[0] for c in commands} == {CONSUMER, SUBSCRIPTION}
    for name, capabilities, parameters in commands:
        doc = template(name, "123456789012").doc
        named = [r for r, v in doc["Resources"].items() if NAMED_IAM.get(v["Type"]) in v.get("Properties", {})]
        if named:
            # "If you have IAM resources with custom names, you must specify CAPABILITY_NAMED_IAM" (CreateStack).
            assert "CAPABILITY_NAMED_IAM" in capabilities, (name, named)
        declared = doc["Parameters"]
        assert set(parameters) <= set(declared), (name, set(parameters) - set(declared))
        required = {k for k, v in declared.items() if "Default" not in v}
        assert required <= set(parameters), (name, required - set(parameters))
        for k, value in parameters.items():
            p = declared[k]
            assert value in p.get("AllowedValues", [value]), (name, k, value)
            assert re.fullmatch(p.get("AllowedPattern", ".*"), value), (name, k, value)
            assert len(value) <= p.get("MaxLength", len(value)), (name, k, value)


def queue_policy_statements(t, queue):
    name = t.name_of(queue)
    for rid in t.resources("AWS::SQS::QueuePolicy"):
        p = t.props(rid)
        if name in p["Queues"]:
            yield from p["PolicyDocument"]["Statement"]


@pytest.mark.parametrize("name,parameters", [
    (CONSUMER, {}),
    (CONSUMER, {"ExampleSignal": ""}),
    (CONSUMER, {"CreateConsumerBus": "false", "ExampleSignal": "access_denied"}),
    (SUBSCRIPTION, {"SubscriptionName": "soc", "Category": "identity",
                    "TargetArn": "arn:aws:sqs:us-east-1:444455556666:soc-queue"}),
], ids=["consumer", "consumer-without-example", "consumer-second-category", "subscription"])
def test_each_dead_letter_queue_admits_exactly_the_rules_that_name_it(name, parameters):
    t = template(name, DOC_CONSUMER, {"SecurityAccountId": DOC_SECURITY, **parameters})
    queues = {t.arn_of(q): q for q in t.resources("AWS::SQS::Queue")}
    writers = {}
    for rule in t.resources("AWS::Events::Rule"):
        for target in t.props(rule)["Targets"]:
            if "DeadLetterConfig" in target:
                writers.setdefault(target["DeadLetterConfig"]["Arn"], set()).add(t.arn_of(rule))
    assert writers
    for dlq, rules in writers.items():
        statements = [s for s in queue_policy_statements(t, queues[dlq])
                      if s["Principal"] == {"Service": "events.amazonaws.com"} and s["Action"] == "sqs:SendMessage"]
        [s] = statements
        assert s["Effect"] == "Allow" and s["Resource"] == dlq
        assert set(as_list(s["Condition"]["ArnEquals"]["aws:SourceArn"])) == rules, queues[dlq]


# Names and their limits: the CloudFormation schemas' maxLength, and SQS's
# 80 characters (CreateQueue), which its schema leaves out.
NAMES = {"AWS::Events::Rule": "Name", "AWS::IAM::Role": "RoleName", "AWS::SQS::Queue": "QueueName",
         "AWS::CloudWatch::Alarm": "AlarmName", "AWS::Events::EventBus": "Name"}
SQS_QUEUE_NAME = 80
UNBOUNDED = 4096  # as long as a parameter value may be


def limit(kind):
    if kind == "AWS::SQS::Queue":
        return SQS_QUEUE_NAME
    return schema(kind)["properties"][NAMES[kind]]["maxLength"]


def referenced(value):
    """The names a value refers to (Ref, and ${...} in Fn::Sub)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return set(re.findall(r"\$\{([^}!.]+)\}", text))
        return set().union(*(referenced(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value)) if value else set()
    return set()


def longest(parameter):
    """The longest value CloudFormation accepts for a String parameter."""
    if "AllowedValues" in parameter:
        return max((str(v) for v in parameter["AllowedValues"]), key=len)
    width = UNBOUNDED
    if "AllowedPattern" in parameter:
        width = min(width, re._parser.parse(parameter["AllowedPattern"]).getwidth()[1])
    width = min(width, parameter.get("MaxLength", width))
    for c in "a1":
        if re.fullmatch(parameter.get("AllowedPattern", ".*"), c * width):
            return c * width
    raise AssertionError(f"no value of {width} characters found for {parameter}")


@pytest.mark.parametrize("name,parameters", [
    (CONSUMER, {"SecurityAccountId": DOC_SECURITY}),
    (SUBSCRIPTION, {"TargetArn": "arn:aws:sqs:us-east-1:444455556666:soc-queue"}),
])
def test_every_name_fits_its_limit_with_the_longest_parameters(name, parameters):
    doc = template(name, DOC_CONSUMER).doc
    named = {r: v for r, v in doc["Resources"].items() if v["Type"] in NAMES}
    used = set().union(*(referenced(v["Properties"][NAMES[v["Type"]]]) for v in named.values()))
    worst = {p: longest(doc["Parameters"][p]) for p in used if p in doc["Parameters"]}
    t = template(name, DOC_CONSUMER, {**parameters, **worst})
    lengths = {}
    for kind in NAMES:
        for r in t.resources(kind):
            lengths[r] = (len(t.name_of(r)), limit(kind))
    too_long = {r: n for r, n in lengths.items() if n[0] > n[1]}
    assert not too_long, (worst, too_long)


def test_the_documented_deployer_policy_covers_the_rule_handlers_and_the_relay_key():
    handlers = schema("AWS::Events::Rule")["handlers"]
    calls = set().union(*(handlers[h]["permissions"] for h in ("create", "read", "update", "delete")))
    t = template(CONSUMER, DOC_CONSUMER, {"SecurityAccountId": DOC_SECURITY, "Category": "identity"},
                 region=DOC_REGION)
    rule = t.props("SubscriptionRule")
    # iam:PassRole is for a target with a RoleArn; a bus of one's own needs none.
    assert all("RoleArn" not in target for target in rule["Targets"])
    needed = {c for c in calls if c != "iam:PassRole"}
    assert {"events:TagResource", "events:UntagResource", "events:ListTagsForResource"} <= needed
    bus = rule["EventBusName"]
    assert bus == f"arn:aws:events:{DOC_REGION}:{DOC_SECURITY}:event-bus/trailrelay-identity"
    rule_arn = bus.replace(":event-bus/", ":rule/") + "/" + rule["Name"]
    by_sid = {s.get("Sid"): s for s in doc_statements()}
    manage = by_sid.get("ManageTheSubscriptionRuleOnTheCategoryBus")
    assert manage, "the doc shows the deploying principal's IAM policy"
    assert manage["Effect"] == "Allow" and set(manage["Action"]) == needed
    assert manage["Resource"] == rule_arn
    decrypt = by_sid["DecryptTheCategoryBusThroughEventBridgeOnly"]
    assert decrypt["Effect"] == "Allow" and decrypt["Action"] == "kms:Decrypt"
    assert re.fullmatch(rf"arn:aws:kms:{DOC_REGION}:{DOC_SECURITY}:key/[0-9a-f-]+", decrypt["Resource"])
    assert decrypt["Condition"] == {"StringEquals": {
        "kms:ViaService": f"events.{DOC_REGION}.amazonaws.com",
        "kms:EncryptionContext:aws:events:event-bus:arn": bus}}
    # And the other half: what the category bus policy's consumer statement must admit.
    [paragraph] = [p for p in doc_text().split("\n\n") if "`ConsumersManageTheirOwnRules`" in p]
    for action in ("events:TagResource", "events:UntagResource", "events:ListTagsForResource"):
        assert f"`{action}`" in paragraph, action


def test_the_consumer_bus_is_the_last_bus_and_says_so():
    t = template(CONSUMER, DOC_CONSUMER, {"SecurityAccountId": DOC_SECURITY})
    bus = t.props("ConsumerBus")["Name"]
    for rule in t.resources("AWS::Events::Rule"):
        p = t.props(rule)
        if p["EventBusName"] in (bus, t.arn_of("ConsumerBus")):
            for target in p["Targets"]:
                assert ":event-bus/" not in target["Arn"], (rule, target["Arn"])
    assert "last bus" in t.doc["Description"]
    assert "not to another bus" in t.props("ConsumerBus")["Description"]
    subscription = template(SUBSCRIPTION, "123456789012").doc
    assert "last bus" in subscription["Description"]
    assert "not to another bus" in subscription["Parameters"]["TargetArn"]["Description"]
    text = " ".join(doc_text().split())
    assert "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html" in text
    assert "these events are not sent to the third account" in text
    assert "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-bus-to-bus.html" in text
    assert "EventBridge can't route events received from a sender event bus to a third event bus" in text


def test_the_doc_says_how_to_recover_what_the_subscription_dlq_holds_under_the_relay_key():
    t = template(CONSUMER, DOC_CONSUMER, {"SecurityAccountId": DOC_SECURITY})
    queue = t.doc["Resources"]["SubscriptionDeadLetterQueue"]["Properties"]["QueueName"]["Fn::Sub"]
    documented = queue.replace("${NamePrefix}", "<prefix>").replace("${Category}", "<category>")
    sections = [s for s in re.split(r"\n(?=#+ )", doc_text()) if f"`{documented}`" in s]
    assert sections, f"the doc names the subscription DLQ ({documented})"
    section = " ".join(" ".join(sections).split())
    for needed in ("https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-encryption-event-bus-dlq.html",
                   "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-encryption-event-bus-dlq-decrypt.html",
                   "`Encrypted Events`", "`encrypted-payload`", "`kms-key-arn`", "`detail.eventID`"):
        assert needed in section, needed
