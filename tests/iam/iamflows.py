"""IAM requests judged by a real policy evaluator (@cloud-copilot/iam-simulate,
test-only, driven through node by simulate.mjs) against the templates as
CloudFormation resolves them (local/localaws.py's resolver).

moto stores policies and enforces none; a test that a policy *contains* a
statement cannot fail when the statement is wrong. Here each request the
code makes (tests/iam/aws-calls.json, kept equal to the code), each request
a service makes on our behalf and each forgery we claim to stop is put to
the evaluator with every policy AWS would consult: the caller's identity
policies, the resource's policy, the organization's SCPs. Traps of the
evaluator (docs/local.md, "Judging policies"): policy variables inside
condition values are substituted here before simulating; requests that
carry `kms:EncryptionContext:<key>` go to the evaluator's core unvalidated,
with their keys kept; a multivalued key is given the request's one value.
"""
import json
import os
import subprocess
from dataclasses import dataclass, field

from localaws import ROOT, Template

SIMULATOR = os.path.join(ROOT, "tests", "iam", "simulate.mjs")
CALLS = json.load(open(os.path.join(ROOT, "tests", "iam", "aws-calls.json")))

ORGANIZATION_ID = "o-exampleorgid"
ROOT_ID = "r-ex12"
OU_PATH = f"{ORGANIZATION_ID}/{ROOT_ID}/ou-ex12-members/"

FULL_AWS_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class Deployed(Template):
    """The resolver, with the ARNs a policy evaluator checks resource types by
    (the harness names keys, topics and log groups by their logical id)."""

    def arn_of(self, resource_id):
        r = self.doc["Resources"][resource_id]
        partition = self.ref("AWS::Partition")
        if r["Type"] == "AWS::KMS::Key":
            return f"arn:{partition}:kms:{self.region}:{self.account}:key/{key_id(resource_id)}"
        if r["Type"] == "AWS::Logs::LogGroup":
            name = self.resolve(r["Properties"]["LogGroupName"])
            return f"arn:{partition}:logs:{self.region}:{self.account}:log-group:{name}:*"
        return super().arn_of(resource_id)

    def role_arn(self, resource_id):
        return self.arn_of(resource_id)

    def identity_policies(self, role_id):
        """A role's inline policies, as iam-simulate takes them."""
        return [{"name": p["PolicyName"], "policy": p["PolicyDocument"]}
                for p in self.props(role_id).get("Policies", [])]

    def trust_policy(self, role_id):
        return self.props(role_id)["AssumeRolePolicyDocument"]

    def policy_of(self, resource_id, key="Policy"):
        return self.props(resource_id)[key]

    def queue_policy(self, queue_id):
        """The QueuePolicy document that names this queue."""
        for rid in self.resources("AWS::SQS::QueuePolicy"):
            p = self.props(rid)
            if self.resolve({"Ref": queue_id}) in p["Queues"] or any(
                    q == self.resolve({"Ref": queue_id}) for q in p["Queues"]):
                return p["PolicyDocument"]
        return None

    def bucket_policy(self, bucket_id):
        for rid in self.resources("AWS::S3::BucketPolicy"):
            p = self.props(rid)
            if p["Bucket"] == self.name_of(bucket_id):
                return p["PolicyDocument"]
        return None

    def key_policy(self, key_id_="RelayKey"):
        return self.props(key_id_)["KeyPolicy"]

    def bus_policy(self, bus_name):
        for rid in self.resources("AWS::Events::EventBus"):
            if self.props(rid)["Name"] == bus_name:
                return self.props(rid).get("Policy")
        raise KeyError(bus_name)


def key_id(resource_id):
    """A stable key id for a logical id (a KMS key id is a UUID)."""
    digits = "".join(f"{ord(c):02x}" for c in resource_id)[:32].ljust(32, "0")
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:32]}"


@dataclass
class Request:
    """One request AWS would authorize, and what AWS would consult for it."""
    name: str
    principal: str
    action: str
    resource: str
    resource_account: str
    context: dict = field(default_factory=dict)
    identity: list = field(default_factory=list)
    resource_policy: dict = None
    scps: list = field(default_factory=list)
    unsafe: bool = False

    def simulation(self):
        context = {"aws:SecureTransport": "true", **self.context}
        substitutions = {k: v for k, v in context.items() if isinstance(v, str)}

        def substituted(policy):
            text = json.dumps(policy)
            for k, v in substitutions.items():
                text = text.replace("${" + k + "}", v)
            return json.loads(text)

        simulation = {
            "identityPolicies": [{"name": p["name"], "policy": substituted(p["policy"])} for p in self.identity],
            "serviceControlPolicies": [
                {"orgIdentifier": ROOT_ID, "policies": [{"name": "FullAWSAccess", "policy": FULL_AWS_ACCESS}]
                 + [{"name": f"scp{i}", "policy": substituted(p)} for i, p in enumerate(self.scps)]}
            ] if self.scps else [],
            "resourceControlPolicies": [],
            "request": {
                "principal": self.principal,
                "action": self.action,
                "resource": {"resource": self.resource, "accountId": self.resource_account},
                "contextVariables": context,
            },
        }
        if self.resource_policy is not None:
            simulation["resourcePolicy"] = substituted(self.resource_policy)
        if self.unsafe:
            simulation["unsafe"] = True
        return simulation


def judge(requests):
    """Each request's decision: Allowed, ExplicitlyDenied, ImplicitlyDenied
    (or Error, with the evaluator's reasons), in one run of the evaluator."""
    if not requests:
        return []
    proc = subprocess.run(["node", SIMULATOR], input=json.dumps([r.simulation() for r in requests]),
                          capture_output=True, text=True, cwd=os.path.dirname(SIMULATOR), check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def role_context(role_arn, account, organization=True, paths=OU_PATH):
    """The context keys AWS sets for a request signed by a role's session."""
    context = {"aws:PrincipalArn": role_arn, "aws:PrincipalAccount": account, "aws:PrincipalType": "AssumedRole"}
    if organization:
        context["aws:PrincipalOrgID"] = ORGANIZATION_ID
        context["aws:PrincipalOrgPaths"] = [paths]
    return context


def session_arn(role_arn, session="session"):
    """The assumed-role ARN a role's session signs with."""
    parts = role_arn.split(":")
    return f"arn:{parts[1]}:sts::{parts[4]}:assumed-role/{parts[5].split('/')[-1]}/{session}"


def service_context(source_arn=None, source_account=None):
    context = {"aws:PrincipalIsAWSService": "true"}
    if source_arn:
        context["aws:SourceArn"] = source_arn
    if source_account:
        context["aws:SourceAccount"] = source_account
    return context
