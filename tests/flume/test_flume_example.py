"""examples/flume_log_monitor.py runs as a program (its demo feeds it over
Avro RPC as a Flume AvroSink would) and prints per-host windows."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_log_monitor_demo_reports_error_rates_and_top_urls_per_host():
    proc = subprocess.run([sys.executable, "flume_log_monitor.py", "--seconds", "2.5", "--window", "1", "--slide", "1"],
                          cwd=EXAMPLES, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    windows = out.split("-- window ending")[1:]
    assert windows, out
    rows = re.findall(r"^(web\d)\s+(\d+) requests\s+([\d.]+)% 5xx  top: (.+)$", windows[-1], re.MULTILINE)
    assert sorted(r[0] for r in rows) == ["web1", "web2", "web3"], out
    rate = {host: float(pct) for host, _, pct, _ in rows}
    assert rate["web3"] > rate["web1"]                   # the demo's web3 answers 25% of requests with 503
    assert all(len(top.split("), ")) == 3 for *_, top in rows)
