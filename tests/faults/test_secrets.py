"""No key, webhook token or signing secret in any output, file or message, whatever happens."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from monitor.emulators import CLOUDFLARE_PAGE, FeishuBotEmulator, RelayEmulator, Request, feishu_error, json_answer
from tests.conftest import BOT_SECRET, MAIN_KEY, cli_run
from tests.support.faults import SECRETS, bot_texts, leaked, make, run

SUBSCRIPTION = "/v1/dashboard/billing/subscription"
USAGE = "/v1/dashboard/billing/usage"


def echo_key(request: Request) -> tuple[int, dict[str, str], bytes]:
    """A careless relay that puts the whole key in its error message."""
    key = request.headers.get("authorization", "")[7:]
    return json_answer(500, {"error": {"message": f"upstream refused key {key} (auth: Bearer {key})"}})


def echo_page(request: Request) -> tuple[int, dict[str, str], bytes]:
    key = request.headers.get("authorization", "")[7:]
    return 403, {"Content-Type": "text/html"}, CLOUDFLARE_PAGE.replace(b"Just a moment...", key.encode())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_anywhere_in_many_scenarios(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot, http={"retries": 0})
    log_file = tmp_path / "monitor.log"
    outputs: list[str] = []

    def scenario(*args: str, command: str = "run") -> None:
        if command == "run":
            result = run(setup, "-vv", "--log-file", str(log_file), *args)
        else:
            result = cli_run([command, "-c", str(setup.config), *args], tmp_path / "home")
        assert "Traceback" not in result.stderr, result.stderr
        outputs.extend([result.stdout, result.stderr])

    scenario()  # success
    scenario("--json")
    scenario("--dry-run")
    scenario(command="check-config")
    scenario("-vv", command="check-config")
    scenario(command="test-notify")
    scenario(command="history")
    relay.faults[SUBSCRIPTION] = echo_key  # failures that echo the key
    scenario("--json")
    relay.faults[SUBSCRIPTION] = echo_page
    scenario()
    relay.faults[USAGE] = lambda r: (200, {"Content-Type": "application/json"}, r.headers["authorization"].encode())
    relay.faults.pop(SUBSCRIPTION)
    scenario()
    relay.faults.clear()
    for answer in (feishu_error(19021, f"sign match fail {BOT_SECRET}"), feishu_error(19001, "token invalid"),
                   feishu_error(19024, "Key Words Not Found")):
        bot.scripted[:] = [answer]  # Feishu rejections (the first even echoes the secret)
        scenario()
    bot.scripted.clear()
    env = setup.folder / ".env"
    good = env.read_text()
    env.write_text(good.replace(bot.webhook_url, f"http://127.0.0.1:9/open-apis/bot/v2/hook/{bot.token}"))
    scenario()  # Feishu unreachable: the connection error names the URL
    env.write_text(good.replace(bot.webhook_url, bot.token))
    scenario()  # a config error about the webhook value
    scenario(command="check-config")
    env.write_text(good)

    history = [p for p in setup.log.iterdir() if p.is_file()]  # the records, the state, the lock
    assert any(p.suffix == ".jsonl" for p in history) and (setup.log / "state.json").exists()
    texts = [*outputs, log_file.read_text(encoding="utf-8"), *(p.read_text(encoding="utf-8") for p in history),
             *bot_texts(bot), *(json.dumps(m, ensure_ascii=False) for m in bot.received)]
    assert log_file.stat().st_size > 0 and len(bot.requests) >= 8
    assert leaked(texts) == [], [s[:8] for s in leaked(texts)]
    assert {p.name: mode(p) for p in history} == {p.name: 0o600 for p in history}
    assert mode(setup.log) == 0o700
    assert mode(log_file) == 0o600
    assert all(s not in " ".join(texts) for s in SECRETS)
    assert "upstream refused key sk-M4…ef" in " ".join(texts)  # the echoing relay was reported, masked


def test_check_config_warns_about_readable_secret_files(tmp_path: Path, relay: RelayEmulator,
                                                        bot: FeishuBotEmulator) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    os.chmod(setup.config, 0o644)
    quiet = cli_run(["check-config", "-c", str(setup.config)], tmp_path / "home")
    assert quiet.returncode == 0 and "chmod 600" not in quiet.stdout + quiet.stderr  # no secrets in it

    os.chmod(setup.folder / ".env", 0o640)
    warned = cli_run(["check-config", "-c", str(setup.config)], tmp_path / "home")
    assert warned.returncode == 0
    assert f"chmod 600 {setup.folder / '.env'}" in warned.stdout + warned.stderr

    os.chmod(setup.folder / ".env", 0o600)
    setup.config.write_text(setup.config.read_text().replace("${MAIN_API_KEY}", MAIN_KEY))
    os.chmod(setup.config, 0o604)
    literal = cli_run(["check-config", "-c", str(setup.config)], tmp_path / "home")
    assert literal.returncode == 0
    assert f"chmod 600 {setup.config}" in literal.stdout + literal.stderr
    assert MAIN_KEY not in literal.stdout + literal.stderr
    ran = run(setup, "--dry-run")
    assert f"chmod 600 {setup.config}" in ran.stderr  # run warns too
