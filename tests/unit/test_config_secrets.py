"""Which settings are secrets, and what the loader and the Redactor make of them (in-process, fast)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.config import ConfigError, load
from monitor.providers.generic_json import JsonKeys
from monitor.redact import Redactor, mask_url, scrub, url_secrets

RELAY = "defaults:\n  base_url: https://relay.example.com\n"
HOOK_TOKEN = "5f0c3e1a-77b2-4d0e-9a61-0c8e2b4d9f17"
HC_UUID = "0d1e7b7e-5a5a-4b4b-8c8c-123456789abc"


def write(folder: Path, text: str, mode: int = 0o644) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def account(extra: str = "", key: str = "${KEY}") -> str:
    return f"accounts:\n  - name: a\n    api_key: {key}\n{extra}"


WRITTEN_SECRETS = {
    "api_key": RELAY + account(key="sk-writtenInTheFile0123456789"),
    "api_key default": RELAY + account(key="${KEY:-sk-writtenInTheFile0123456789}"),
    "defaults api_key": RELAY + "  api_key: sk-writtenInTheFile0123456789\naccounts:\n  - name: a\n",
    "feishu webhook": f"feishu:\n  webhook_url: https://open.feishu.cn/open-apis/bot/v2/hook/{HOOK_TOKEN}\n"
                      + RELAY + account(),
    "feishu webhook default": "feishu:\n  webhook_url: ${HOOK:-https://open.feishu.cn/open-apis/bot/v2/hook/"
                              + HOOK_TOKEN + "}\n" + RELAY + account(),
    "signing secret": "feishu:\n  webhook_url: ${HOOK}\n  secret: s1gn1ngS3cret\n" + RELAY + account(),
    "signing secret default": "feishu:\n  webhook_url: ${HOOK}\n  secret: ${SIGN:-s1gn1ngS3cret}\n" + RELAY + account(),
    "heartbeat": f"heartbeat_url: https://hc-ping.com/{HC_UUID}\n" + RELAY + account(),
    "heartbeat default": f"heartbeat_url: ${{HB:-https://hc-ping.com/{HC_UUID}}}\n" + RELAY + account(),
    "pushgateway password": "metrics:\n  pushgateway_url: https://ops:pushPa55word@push.example:9091\n"
                            + RELAY + account(),
    "base_url with ?key=": "defaults:\n  base_url: https://relay.example.com/v1?key=k3yInTheQuery\n" + account(),
    "header": RELAY + account("    provider: json\n    url: https://x.example/b\n    currency: USD\n    balance: b\n"
                              "    headers:\n      X-Session: s3ss10nWritten\n"),
}
ONLY_REFERENCES = {
    "everything from the environment": "feishu:\n  webhook_url: ${HOOK}\n  secret: ${SIGN:-}\n"
                                       "heartbeat_url: ${HB:-}\n" + RELAY + account(),
    "a webhook whose token comes from the environment":
        "feishu:\n  webhook_url: https://open.feishu.cn/open-apis/bot/v2/hook/${HOOK_TOKEN}\n" + RELAY + account(),
    "a header that only uses the key": RELAY + account(
        "    provider: json\n    url: https://x.example/b\n    currency: USD\n    balance: b\n"
        "    headers:\n      Authorization: Bearer {api_key}\n      Accept: application/json\n"),
    "a pushgateway whose password comes from the environment":
        "metrics:\n  pushgateway_url: ${PUSH}\n" + RELAY + account(),
    "a query whose key comes from the environment":
        "feishu:\n  webhook_url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${HOOK_TOKEN}\n"
        + RELAY + account(),
    "a heartbeat without a token of its own":
        "heartbeat_url: https://hc.example/ping/${HC}/{code}\n" + RELAY + account(),
}
ENV = {"KEY": "sk-fromTheEnvironment0123456789", "HOOK": f"https://open.feishu.cn/open-apis/bot/v2/hook/{HOOK_TOKEN}",
       "HOOK_TOKEN": HOOK_TOKEN, "SIGN": "", "HB": "", "HC": HC_UUID,
       "PUSH": "https://ops:pushPa55word@push.example:9091"}


@pytest.mark.parametrize("text", WRITTEN_SECRETS.values(), ids=WRITTEN_SECRETS.keys())
def test_a_readable_config_holding_any_written_secret_is_warned_about(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    config = load(path, environ=ENV)
    assert [w for w in config.warnings if f"chmod 600 {path}" in w], config.warnings
    os.chmod(path, 0o600)
    assert not [w for w in load(path, environ=ENV).warnings if "chmod" in w]


@pytest.mark.parametrize("text", ONLY_REFERENCES.values(), ids=ONLY_REFERENCES.keys())
def test_a_readable_config_without_written_secrets_is_not_warned_about(tmp_path: Path, text: str) -> None:
    config = load(write(tmp_path, text), environ=ENV)
    assert not [w for w in config.warnings if "chmod" in w], config.warnings


def test_header_values_take_variables_and_each_one_is_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, RELAY + account(
        "    provider: json\n    url: https://x.example/b\n    currency: USD\n    balance: b\n"
        "    headers:\n      Cookie: session=${SESSION_TOKEN}\n      X-Trace: ${TRACE:-plain-default}\n"
        "      Authorization: Bearer {api_key}\n"), mode=0o600)
    config = load(path, environ={**ENV, "SESSION_TOKEN": "s3ss10n-fr0m-env"})
    headers = config.accounts[0].keys(JsonKeys).headers
    assert headers == {"Cookie": "session=s3ss10n-fr0m-env", "X-Trace": "plain-default",
                       "Authorization": "Bearer {api_key}"}
    hide = Redactor(config.secrets())
    assert "s3ss10n-fr0m-env" not in hide("server said: token s3ss10n-fr0m-env refused")


def test_a_written_credential_header_is_a_secret_and_a_plain_header_is_not(tmp_path: Path) -> None:
    path = write(tmp_path, RELAY + account(
        "    provider: json\n    url: https://x.example/b\n    currency: USD\n    balance: b\n"
        "    headers:\n      Cookie: session=c00kieValue123; theme=dark\n      Accept: application/json\n"))
    config = load(path, environ=ENV)
    assert [w for w in config.warnings if "chmod 600" in w]
    hide = Redactor(config.secrets())
    assert hide("refused session c00kieValue123 (application/json)") == "refused session c00ki…23 (application/json)"


def test_a_missing_variable_in_a_header_names_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, RELAY + account("    provider: json\n    url: https://x.example/b\n    currency: USD\n"
                                           "    balance: b\n    headers:\n      X-Session: ${SESSION_TOKEN}\n"))
    with pytest.raises(ConfigError) as caught:
        load(path, environ=ENV)
    [problem] = caught.value.problems
    assert ":11: accounts[0].headers.X-Session: environment variable SESSION_TOKEN is not set" in problem


BAD_PLACES = {
    "webhook without scheme": f"feishu:\n  webhook_url: open.feishu.cn/open-apis/bot/v2/hook/{HOOK_TOKEN}\n",
    "webhook with another scheme": f"feishu:\n  webhook_url: ftp://open.feishu.cn/open-apis/bot/v2/hook/{HOOK_TOKEN}\n",
    "just the token": f"feishu:\n  webhook_url: {HOOK_TOKEN}\n",
    "webhook under timezone": f"timezone: https://open.feishu.cn/open-apis/bot/v2/hook/{HOOK_TOKEN}\n",
    "heartbeat without scheme": f"heartbeat_url: hc-ping.com/{HC_UUID}\n",
    "key as a provider": "defaults:\n  provider: sk-writtenInTheFile0123456789\n",
    "key as a currency": "defaults:\n  currency: sk-writtenInTheFile0123456789\n",
    "key as a key": "sk-writtenInTheFile0123456789: x\n",
    "header of the wrong type": "defaults:\n  headers: Bearer sk-writtenInTheFile0123456789\n",
    "base_url with a key, bad scheme": "defaults:\n  base_url: htps://relay.example.com/v1?key=k3yInTheQuery\n",
    "webhook as a list": f"feishu:\n  webhook_url: [https://open.feishu.cn/open-apis/bot/v2/hook/{HOOK_TOKEN}]\n",
}


@pytest.mark.parametrize("text", BAD_PLACES.values(), ids=BAD_PLACES.keys())
def test_a_config_error_names_the_key_and_never_shows_the_secret(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text + "accounts:\n  - name: a\n    api_key: ${KEY}\n", mode=0o600)
    with pytest.raises(ConfigError) as caught:
        load(path, environ=ENV)
    shown = "\n".join(caught.value.problems)
    for secret in (HOOK_TOKEN, HC_UUID, "writtenInTheFile", "k3yInTheQuery", ENV["KEY"][3:]):
        assert secret not in shown, shown
        assert secret[:10] not in shown, shown
    assert all(p.startswith(f"{path}:") for p in caught.value.problems)


def test_a_url_is_shown_with_its_scheme_and_host_only() -> None:
    assert mask_url(f"https://hc-ping.com/{HC_UUID}") == "https://hc-ping.com/…"
    assert mask_url("https://hc.example:8443/ping/x/{code}?key=abcd") == "https://hc.example:8443/…"
    assert mask_url("https://user:pa55word@smtp.example/") == "https://smtp.example"
    assert mask_url("https://open.feishu.cn") == "https://open.feishu.cn"
    assert mask_url(HOOK_TOKEN) == "…"


def test_every_token_like_part_of_a_secret_url_is_scrubbed() -> None:
    slack = "https://hooks.slack.com/services/T0AAA1111/B0BBB2222/xoxWebhookSecret42"
    hide = Redactor(url_secrets(slack) + url_secrets("https://relay.example.com/v1?key=k3yInTheQuery", False))
    for part in ("T0AAA1111", "B0BBB2222", "xoxWebhookSecret42"):
        assert part not in hide(f"POST /services/T0AAA1111/B0BBB2222/xoxWebhookSecret42 failed ({part})")
    assert hide(f"{slack} failed") == "https://hooks.slack.com/… failed"
    assert "k3yInTheQuery" not in hide("GET /v1?key=k3yInTheQuery: 401")
    assert "services" in hide("/services/T0AAA1111")  # ordinary words stay readable


def test_a_secret_cut_short_by_a_shortened_message_is_masked_too() -> None:
    key = "sk-Cut5h0rtKeyAbcdefghijklmnop0123456789"
    hide = Redactor([key])
    assert hide(f"response is not JSON (text/html, '{key[:30]}…')") == "response is not JSON (text/html, 'sk-Cu…')"
    assert hide("cut here: sk-Cu…") == "cut here: sk-Cu…"  # no more than the mask shows anyway
    ding = Redactor(url_secrets("https://oapi.dingtalk.com/robot/send?access_token=7d0c3e1a9b2f4e6d"))
    assert ding("has no access_token=… in it") == "has no access_token=… in it"  # a key's name is no secret


def test_scrub_masks_what_looks_like_a_secret_and_keeps_variable_names() -> None:
    text = scrub(f"'{HOOK_TOKEN}' or https://x.example/hook/abc or sk-abcdefghij; set ACCOUNT1_API_KEY")
    assert HOOK_TOKEN not in text and "/hook/abc" not in text and "sk-abcdefghij" not in text
    assert "https://x.example/…" in text and "ACCOUNT1_API_KEY" in text


def test_check_config_shows_hosts_and_masks_everything_else(tmp_path: Path) -> None:
    import io

    from monitor.commands import check_config

    path = write(tmp_path, "feishu:\n  webhook_url: https://hooks.example.com/x/T0kenInThePath?sig=s1gInTheQuery\n"
                           "heartbeat_url: ${HB}\n"
                           "accounts:\n  - name: a\n    api_key: sk-writtenInTheFile0123456789\n"
                           "    base_url: https://user:pa55InTheUserPart@relay.example.com/v1?key=k3yInTheQuery\n",
                 mode=0o600)
    config = load(path, environ={"HB": f"https://hc-ping.com/{HC_UUID}/{{status}}?k=hbInTheQuery"})
    out = io.StringIO()
    assert check_config(config, out) == 0
    shown = out.getvalue()
    for secret in ("T0kenInThePath", "s1gInTheQuery", HC_UUID, "hbInTheQuery", "writtenInTheFile", "pa55InTheUserPart",
                   "k3yInTheQuery", "{status}"):
        assert secret not in shown, shown
    assert "feishu: https://hooks.example.com/…" in shown and "heartbeat: https://hc-ping.com/…" in shown
    assert "  a  openai-billing  relay.example.com  key sk-wr…89" in shown
