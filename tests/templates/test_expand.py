"""`Fn::ForEach` expanded the one way every reader of the templates uses
(local/localaws.py `expand`, cfn-lint's transform): a block written once
must resolve exactly as the same block written out by hand, whatever the
deployment's parameters."""
import pytest

from localaws import Template, expand

FOREACH = "tests/templates/fixtures/foreach.yaml"
WRITTEN_OUT = "tests/templates/fixtures/foreach-written-out.yaml"


@pytest.mark.parametrize("parameters", [{}, {"FunctionTimeout": 60}, {"NamePrefix": "acme-relay"}])
def test_a_block_written_once_resolves_as_the_block_written_out(parameters):
    looped = Template(FOREACH, "123456789012", parameters)
    written = Template(WRITTEN_OUT, "123456789012", parameters)
    assert "Fn::ForEach::CategoryBuses" not in looped.doc["Resources"]
    assert sorted(looped.doc["Resources"]) == sorted(written.doc["Resources"])
    for name in written.doc["Resources"]:
        assert looped.resolve(looped.props(name)) == written.resolve(written.props(name)), name
    # A mapping keyed by a parameter follows the deployment's value, and one keyed
    # by the loop variable its item.
    seconds = {30: 180, 60: 360}[parameters.get("FunctionTimeout", 30)]
    assert looped.resolve(looped.props("Queue"))["VisibilityTimeout"] == seconds
    assert looped.resolve(looped.props("auditBus"))["Description"] == "Audit events"
    assert looped.doc["Transform"] == "AWS::Serverless-2016-10-31"


def test_a_template_without_the_transform_is_read_as_it_is():
    doc = {"Resources": {"Fn::ForEach::X": ["C", ["a"], {"${C}Q": {"Type": "AWS::SQS::Queue"}}]}}
    assert expand(doc) is doc
