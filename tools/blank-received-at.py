"""Blanks the time the relay received each event (provenance.receivedAt,
and the entry's Time where the event had none of its own): the one thing
in `trailrelay route`'s output that changes from run to run."""
import re
import sys

RECEIVED_AT = re.compile(r'receivedAt\\":\\"([^\\"]*)\\"')
for line in sys.stdin:
    found = RECEIVED_AT.search(line)
    sys.stdout.write(line.replace(found.group(1), "") if found and found.group(1) else line)
