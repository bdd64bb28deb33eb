"""A dead man's switch: one GET at the end of every run, carrying the exit code."""

from __future__ import annotations

import logging

from monitor.redact import Redactor, mask_url

log = logging.getLogger(__name__)

TIMEOUT = 10.0


def url_for(template: str, code: int) -> str:
    """``{code}`` and ``{status}`` are filled in; a URL with neither gets ``/<code>`` (Healthchecks.io).

    The code goes on the end of the path, before any query or fragment: appended to
    ``…/ping/<uuid>?rid=abc`` it would change a query value, and the service would count every run a success.
    """
    status = "up" if code == 0 else "down"
    if "{code}" in template or "{status}" in template:
        return template.replace("{code}", str(code)).replace("{status}", status)
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(template)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{code}"))


def ping(template: str, code: int, redactor: Redactor, dry_run: bool = False) -> bool:
    """True when the heartbeat answered 2xx. A failure is a warning, never a failed run."""
    if dry_run:
        log.info("heartbeat: (dry run; not pinging)")
        return False
    import requests

    from monitor.http import USER_AGENT, connection_reason

    try:
        r = requests.get(url_for(template, code), timeout=(TIMEOUT, TIMEOUT), headers={"User-Agent": USER_AGENT})
    except requests.RequestException as exc:
        # Only the host: the path (a Healthchecks UUID) and the query are the secret.
        log.warning("heartbeat not sent: %s (%s)", connection_reason(redactor(str(exc))), mask_url(template))
        return False
    if not 200 <= r.status_code < 300:
        log.warning("heartbeat answered HTTP %d (%s)", r.status_code, mask_url(template))
        return False
    log.info("heartbeat sent (exit code %d)", code)
    return True
