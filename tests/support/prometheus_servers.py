"""The real Prometheus programs, Debian's packages, started on loopback for the metrics tests.

A missing program skips the test naming its Debian package (tests/support/system_tools.py), or fails it under
``ABM_SYSTEM_TESTS=required``, as in ``.ci/run``, which installs them.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.helpers_ops import closed_port
from tests.support.system_tools import need_tool

NODE_EXPORTER = "prometheus-node-exporter"
PUSHGATEWAY = "prometheus-pushgateway"
PROMTOOL = "promtool"
PACKAGES = {NODE_EXPORTER: "prometheus-node-exporter", PUSHGATEWAY: "prometheus-pushgateway", PROMTOOL: "prometheus"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def program(name: str) -> str:
    """Debian's ``name`` (one of the three above), or the test skips naming its package."""
    return need_tool(name, package=PACKAGES[name])


@contextmanager
def serving(argv: list[str], port: int) -> Iterator[str]:
    """Start ``argv`` (listening on 127.0.0.1:port), wait until /metrics answers, stop it afterwards."""
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url + "/metrics", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{argv[0]} did not start: {process.stderr.read() if process.stderr else ''}")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


@contextmanager
def node_exporter(textfile_directory: Path) -> Iterator[str]:
    """node_exporter with only its textfile collector, reading ``textfile_directory``."""
    port = closed_port()
    argv = [program(NODE_EXPORTER), f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
            "--collector.textfile", f"--collector.textfile.directory={textfile_directory}"]
    with serving(argv, port) as url:
        yield url


@contextmanager
def pushgateway() -> Iterator[str]:
    """A Pushgateway without persistence (nothing kept after it stops)."""
    port = closed_port()
    with serving([program(PUSHGATEWAY), f"--web.listen-address=127.0.0.1:{port}"], port) as url:
        yield url


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as answer:
        text: str = answer.read().decode("utf-8")
    return text


def samples(text: str, prefix: str = "") -> Samples:
    """Every sample of the exposition text, keyed by name and label set (parsed by prometheus_client)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefix):
                found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels`` (extra labels such as job are ignored)."""
    matches = [v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls]
    assert len(matches) == 1, f"{name}{labels}: {len(matches)} samples in {sorted(found)}"
    return matches[0]
