"""Any config text is a Config or a ConfigError naming file and line: never another exception."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import Config, ConfigError, load, top_level
from tests.unit.test_schema import account_keys, sections

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENV = {"KEY": "sk-" + "k" * 40, "URL": "https://open.feishu.cn/open-apis/bot/v2/hook/abc", "EMPTY": ""}

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20), st.floats(),
                    st.text(max_size=20), st.sampled_from(["${KEY}", "${URL}", "${EMPTY}", "${MISSING}",
                                                           "${MISSING:-x}", "\\${KEY}", "https://h", "http://h",
                                                           "deepseek", "openai-billing", "USD", "Asia/Shanghai"]))
keys = st.sampled_from([*top_level(), *account_keys(), *(k for s in sections().values() for k in s), "x", "nmae"])
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=4)), max_leaves=15)
documents = st.dictionaries(st.sampled_from([*top_level(), "extra"]), values, max_size=6)
yaml_bits = st.lists(st.sampled_from(["accounts:", "\n", "  ", "\t", "- ", "name: a", "api_key: ${KEY}", ":",
                                      "&a", "*a", "<<: *a", "[", "]", "{", "}", "'", '"', "#", "---", "...",
                                      "!!python/object:os.system", "!!binary", "%YAML 1.1", "? ", "|", ">",
                                      "\ufeff", "\x00", "é", "🚀"]), max_size=40).map("".join)


def check(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            config = load(path, environ=ENV)
        except ConfigError as exc:
            assert exc.problems
            for problem in exc.problems:
                assert re.match(rf"{re.escape(str(path))}(:\d+)?: ", problem), problem
                assert ENV["KEY"] not in problem
        else:
            assert isinstance(config, Config) and config.accounts


def dump(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True)


@FAST
@given(document=documents)
def test_any_document_shape(document: dict[str, Any]) -> None:
    check(dump(document))


@FAST
@given(text=yaml_bits)
def test_any_yaml_like_text(text: str) -> None:
    check(text)


@FAST
@given(accounts=st.lists(st.dictionaries(st.sampled_from(list(account_keys())), values, max_size=6), max_size=3),
       defaults=st.dictionaries(st.sampled_from([k for k in account_keys() if k != "name"]), values, max_size=4))
def test_any_accounts(accounts: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
    check(dump({"defaults": defaults, "accounts": accounts}))
