"""The shipped schedules and manifests: they parse, say what the README says, agree with each other,
and the crontab line really runs from cron's environment."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.emulators import FeishuBotEmulator
from tests.conftest import EXECUTABLE, Setup, cron_run

ROOT = Path(__file__).resolve().parent.parent
CRONTAB = ROOT / "crontab.example"
SYSTEMD = ROOT / "deploy" / "systemd"
KUBERNETES = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
SCRIPT = "/bin/api-balance-monitor"


def crontab_job() -> tuple[list[str], list[str]]:
    """(the five schedule fields, the command's words) of the one job in crontab.example."""
    jobs = [line for line in CRONTAB.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#") and not re.match(r"^[A-Z_]+=", line)]
    assert len(jobs) == 1, jobs
    words = jobs[0].split()
    return words[:5], shlex.split(" ".join(words[5:]))


def option(words: list[str], name: str) -> str:
    assert name in words, (name, words)
    return words[words.index(name) + 1]


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def manifest(name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((KUBERNETES / name).read_text(encoding="utf-8")) if d]
    assert len(docs) == 1, name
    doc: dict[str, Any] = docs[0]
    return doc


# --- crontab -------------------------------------------------------------------------------------------


def test_crontab_runs_twice_a_day_at_an_off_minute_with_absolute_paths() -> None:
    schedule, command = crontab_job()
    assert schedule == ["5", "9,21", "*", "*", "*"]
    assert command[0].startswith("/") and command[0].endswith(SCRIPT)  # no PATH under cron, no venv activated
    assert command[1] == "run"
    assert option(command, "-c").startswith("/") and option(command, "-c").endswith(".yaml")
    assert option(command, "--log-file").startswith("/")


def test_the_crontab_line_runs_from_crons_environment(setup: Setup, bot: FeishuBotEmulator, tmp_path: Path) -> None:
    # The same words, with this machine's script, config and log folder in place of the example's.
    _, command = crontab_job()
    args = command[1:]
    args[args.index("-c") + 1] = str(setup.config)
    log_file = tmp_path / "log" / "monitor.log"
    log_file.parent.mkdir()
    args[args.index("--log-file") + 1] = str(log_file)
    result = cron_run(args, tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # cron mails nothing on success
    assert len(bot.received) == 1 and setup.history.exists()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


# --- systemd -------------------------------------------------------------------------------------------


def test_systemd_service_is_a_oneshot_of_the_installed_script() -> None:
    service = unit(SYSTEMD / "api-balance-monitor.service")
    assert service["Service"]["Type"] == "oneshot"
    command = shlex.split(service["Service"]["ExecStart"])
    assert command[0].startswith("/") and command[0].endswith(SCRIPT)
    assert command[1] == "run"
    assert option(command, "-c").startswith("/")
    assert "1" in service["Service"]["SuccessExitStatus"].split()  # a delivered low-balance alert is not a failure
    assert service["Service"]["StateDirectory"] == "api-balance-monitor"


def test_systemd_timer_matches_the_crontab_schedule_and_catches_up() -> None:
    timer = unit(SYSTEMD / "api-balance-monitor.timer")
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "api-balance-monitor.service"
    assert timer["Install"]["WantedBy"] == "timers.target"
    match = re.fullmatch(r"\*-\*-\* ([\d,]+):(\d\d):00(?: [\w/]+)?", timer["Timer"]["OnCalendar"])
    assert match, timer["Timer"]["OnCalendar"]
    schedule, _ = crontab_job()
    assert [int(h) for h in match.group(1).split(",")] == [int(h) for h in schedule[1].split(",")]
    assert int(match.group(2)) == int(schedule[0])


def test_systemd_analyze_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    timer = unit(SYSTEMD / "api-balance-monitor.timer")
    calendar = subprocess.run([analyze, "calendar", "--iterations=2", timer["Timer"]["OnCalendar"]],
                              capture_output=True, text=True)
    assert calendar.returncode == 0, calendar.stderr
    assert "Normalized form: *-*-* 09,21:05:00" in calendar.stdout
    # verify checks that ExecStart exists: point it at this venv's script, as an install would.
    service_text = (SYSTEMD / "api-balance-monitor.service").read_text(encoding="utf-8")
    example = shlex.split(unit(SYSTEMD / "api-balance-monitor.service")["Service"]["ExecStart"])[0]
    (tmp_path / "api-balance-monitor.service").write_text(service_text.replace(example, str(EXECUTABLE)),
                                                          encoding="utf-8")
    shutil.copy(SYSTEMD / "api-balance-monitor.timer", tmp_path)
    verify = subprocess.run([analyze, "verify", str(tmp_path / "api-balance-monitor.service"),
                             str(tmp_path / "api-balance-monitor.timer")], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr


# --- Kubernetes and the image --------------------------------------------------------------------------


def test_kubernetes_manifests_parse_and_hold_the_required_fields() -> None:
    kustomization = manifest("kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (KUBERNETES / resource).is_file(), resource
    secret_name = kustomization["secretGenerator"][0]["name"]
    assert kustomization["secretGenerator"][0]["envs"] == [".env"]  # the same .env as a crontab install
    config_name = kustomization["configMapGenerator"][0]["name"]
    assert kustomization["configMapGenerator"][0]["files"] == ["config.yaml"]

    pvc = manifest("pvc.yaml")
    assert pvc["kind"] == "PersistentVolumeClaim"

    cronjob = manifest("cronjob.yaml")
    assert (cronjob["apiVersion"], cronjob["kind"]) == ("batch/v1", "CronJob")
    spec = cronjob["spec"]
    schedule, _ = crontab_job()
    assert spec["schedule"].split() == schedule
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0  # a retried pod would post the report again
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == [secret_name]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert volumes["config"]["configMap"]["name"] == config_name
    assert volumes["history"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]

    config_path = option(container["args"], "-c")
    assert str(Path(config_path).parent) == mounts["config"]
    history_file = yaml.safe_load((KUBERNETES / "config.yaml").read_text(encoding="utf-8"))["history"]["file"]
    assert str(Path(history_file).parent) == mounts["history"]  # the history lives on the claim

    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["api-balance-monitor"]' in dockerfile
    assert f"USER {pod['securityContext']['runAsUser']}" in dockerfile
    for copied in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M):
        for name in copied.split():
            assert (ROOT / name).exists(), name


def test_the_kubernetes_config_is_valid(tmp_path: Path) -> None:
    env = {"FEISHU_WEBHOOK_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/954e40d7-6b1c-4111-9f2a-649b5e0ba5f9",
           "ACCOUNT1_API_KEY": "sk-" + "k8sK3y" * 8}
    result = cron_run(["check-config", "-c", str(KUBERNETES / "config.yaml")], tmp_path / "home", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "history: /data/api_usage_history.json" in result.stdout


def test_kustomize_renders_the_env_file_as_the_secret_the_cronjob_reads(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed on this machine")
    folder = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, folder)
    (folder / ".env").write_text("FEISHU_WEBHOOK_URL=https://open.feishu.cn/open-apis/bot/v2/hook/x\n"
                                 "ACCOUNT1_API_KEY=sk-test\n", encoding="utf-8")
    rendered = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered.stdout)}
    assert set(docs) == {"ConfigMap", "Secret", "PersistentVolumeClaim", "CronJob"}
    assert set(docs["Secret"]["data"]) == {"FEISHU_WEBHOOK_URL", "ACCOUNT1_API_KEY"}
    pod = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"][0]["secretRef"]["name"] == docs["Secret"]["metadata"]["name"]
    config_volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert config_volume["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
