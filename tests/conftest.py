"""The local stand-ins for AWS (local/: the harness, the template resolver,
the pipeline) are importable by every test."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "local"))
