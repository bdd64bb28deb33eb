"""The metrics' deploy files: the alert rules and the dashboard name only metrics the monitor writes, their
PromQL parses (promtool), and the systemd unit, the image and the Kubernetes config are wired for metrics."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from monitor.metrics import families
from monitor.report import Report
from tests.conftest import cli_run
from tests.e2e.test_deploy import DOCKERFILE, KUBERNETES, SYSTEMD, unit
from tests.support.prometheus_servers import PROMTOOL, program

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "api-balance-monitor.json"
NAME = re.compile(r"\bapi_balance_monitor_\w+")


def metric_names() -> set[str]:
    return {f.name for f in families(Report(datetime.now(timezone.utc), "en", (), {}), 0, 0.0, 0.0, None)}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    found += [v["definition"].removeprefix("label_values(").split(",")[0] for v in dashboard["templating"]["list"]
              if v["type"] == "query"]
    return found


def test_the_rules_and_the_dashboard_name_only_metrics_the_monitor_writes() -> None:
    known = metric_names()
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    used = {n for r in rules["groups"][0]["rules"] for n in NAME.findall(r["expr"])}
    used |= {n for e in dashboard_exprs() for n in NAME.findall(e)}
    assert used and used <= known, used - known
    alerts = {r["alert"] for r in rules["groups"][0]["rules"]}
    assert {"ApiBalanceMonitorNotSucceeding", "ApiBalanceDaysLeftLow", "ApiBalanceQueryFailing",
            "ApiBalanceSpendingSpike"} <= alerts


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    # Each panel's query as a recording rule, with Grafana's $account filled in as its "All" value.
    rules: dict[str, Any] = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": expr.replace("$account", ".*")}
        for i, expr in enumerate(dashboard_exprs())]}]}
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = subprocess.run([program(PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_systemd_unit_may_write_the_textfile_directory_its_comment_names() -> None:
    text = (SYSTEMD / "api-balance-monitor.service").read_text(encoding="utf-8")
    [textfile] = re.findall(r"textfile: (/\S+\.prom)", text)
    writable = unit(SYSTEMD / "api-balance-monitor.service")["Service"]["ReadWritePaths"].split()
    assert "-" + str(Path(textfile).parent) in writable
    assert "pip install\n#          'api-balance-monitor[prometheus]'" in text


def test_the_image_has_the_extra_and_the_kubernetes_config_pushes(tmp_path: Path) -> None:
    assert "pip install --no-cache-dir '.[prometheus]'" in DOCKERFILE.read_text(encoding="utf-8")
    env = {"FEISHU_WEBHOOK_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/954e40d7-6b1c-4111-9f2a-649b5e0ba5f9",
           "ACCOUNT1_API_KEY": "sk-" + "k8sK3y" * 8}
    result = cli_run(["check-config", "-c", str(KUBERNETES / "config.yaml")], tmp_path / "home", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("metrics: push to http://prometheus-pushgateway.monitoring.svc:9091 as job api_balance_monitor"
            in result.stdout)
