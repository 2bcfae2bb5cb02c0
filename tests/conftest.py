"""The local stand-ins for AWS (local/: the harness, the template resolver,
the pipeline) are importable by every test."""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_ROOT, "local"))
sys.path.insert(0, os.path.join(_ROOT, "tests", "iam"))  # the IAM evaluator's harness
