"""The table of providers. Importing this is cheap: a provider's module loads only when used."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from monitor.snapshot import Item, ProviderError, Snapshot

# fetch(account, http) -> Snapshot. The table imports neither the settings nor the HTTP client: the
# settings check provider names against it.
Fetch = Callable[[Any, Any], "Snapshot | list[Item]"]


class _Endpoint(Protocol):
    @property
    def provider(self) -> str: ...

    @property
    def base_url(self) -> str | None: ...


@dataclass(frozen=True)
class ProviderInfo:
    module: str
    default_base_url: str | None  # None: the account must give base_url (or url)
    needs_url: bool = False  # the json provider takes a full url instead of a base_url
    site: bool = False  # fetch returns a list of ``Item``s (one account each), not one ``Snapshot``
    needs_key: bool = True  # False: an admin credential of its own (``access_token``) instead of ``api_key``


# Adding a provider is its module (fetch, a pure from_answer and, if it has account keys of its own, their
# frozen dataclass named KEYS: settings.ProviderKeys) and one line here; the config loader finds the keys here.
PROVIDERS: dict[str, ProviderInfo] = {
    "openai-billing": ProviderInfo("monitor.providers.openai_billing", None),
    "new-api": ProviderInfo("monitor.providers.new_api", None),
    "deepseek": ProviderInfo("monitor.providers.deepseek", "https://api.deepseek.com"),
    "moonshot": ProviderInfo("monitor.providers.moonshot", "https://api.moonshot.cn"),
    "siliconflow": ProviderInfo("monitor.providers.siliconflow", "https://api.siliconflow.cn"),
    "openrouter": ProviderInfo("monitor.providers.openrouter", "https://openrouter.ai"),
    "litellm": ProviderInfo("monitor.providers.litellm", None),  # a proxy of your own: base_url is required
    # A relay as its admin sees it: every upstream channel and every user (reference/operators.md §1).
    "new-api-admin": ProviderInfo("monitor.providers.new_api_admin", None, site=True, needs_key=False),
    # A LiteLLM proxy as its admin sees it (master key): every virtual key and every team (operators.md §2b).
    "litellm-admin": ProviderInfo("monitor.providers.litellm_admin", None, site=True),
    "json": ProviderInfo("monitor.providers.generic_json", None, needs_url=True),
}


def base_url(account: _Endpoint) -> str:
    """Where a provider sends this account's queries: its ``base_url`` or the provider's official host."""
    found = account.base_url or PROVIDERS[account.provider].default_base_url
    if not found:
        raise ProviderError(f"provider {account.provider} needs base_url")  # config.py rejects this earlier
    return found.rstrip("/")


def fetcher(provider: str) -> Fetch:
    """The ``fetch(account, http)`` function of a provider: a ``Snapshot``, or a site's list of ``Item``s."""
    module = importlib.import_module(PROVIDERS[provider].module)
    fetch: Fetch = module.fetch
    return fetch
