"""`make demo`, as the README gives it: it runs on a fresh machine, sends
every sample event to its category bus, tells the path-health story and
the reconciliation one.
(CI runs it here, inside `make test`, not a second time after the tests.)"""
import re
import subprocess

from localaws import ROOT, categories


def test_make_demo_delivers_every_sample_reports_a_silent_path_and_its_return_and_puts_back_a_lost_event():
    done = subprocess.run(["make", "-s", "demo"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    buses = dict(re.findall(r"^== (\S+): (\d+) event\(s\)$", out, re.M))
    assert sorted(name.rsplit("-", 1)[-1] for name in buses) == sorted(categories()), buses
    total = re.search(r"^total: (\d+) event\(s\) delivered to \d+ category bus\(es\); (\d+) failed", out, re.M)
    assert total, out[-2000:]
    assert int(total.group(1)) == sum(int(n) for n in buses.values()) > 0
    assert total.group(2) == "0"
    assert "audit bus <- trailrelay Path Silent" in out
    assert "audit bus <- trailrelay Path Restored" in out
    # One event lost on its way: reported missing, put back, then seen.
    assert re.search(r"first pass \(an hour after the window\): 3 expected, 2 seen, 1 missing; 1 put back", out), out[-3000:]
    assert re.search(r"audit bus <- trailrelay Reconciliation Report: \d{12} us-east-1: 1 missing of 3", out)
    assert re.search(r"trailrelay-identity <- CreateUser [0-9a-f-]{36}, backfilled, signals \S*late_delivery", out)
    assert re.search(r"second pass \(a day after, here at once\): 3 expected, 0 missing, 1 seen as put back", out)
