"""A dead man's switch: one GET at the end of every run, saying success or failure (and the exit code)."""

from __future__ import annotations

import logging

from monitor.redact import Redactor, mask_url

log = logging.getLogger(__name__)

TIMEOUT = 10.0


def succeeded(code: int) -> bool:
    """Whether a run's exit code is a success ping: 0, or 1 alone (the job did its work; a key is low).

    Anything with bit 2, 4 or 8 set, and anything from 64 up (usage, a bug, the lock, the config,
    a signal), is a failure: the service should page someone.
    """
    return code in (0, 1)


def url_for(template: str, code: int) -> str:
    """The URL to GET after a run that ends with ``code``.

    ``{code}`` becomes the exit code and ``{status}`` ``up`` or ``down`` wherever they stand. A URL with
    neither gets ``/0`` on success and ``/<exit code>`` on failure (Healthchecks.io: ``/0`` is success,
    any other number a failure), so exit 1 (a low key, reported) is not paged as a failed job.

    The number goes on the end of the path, before any query or fragment: appended to
    ``…/ping/<uuid>?rid=abc`` it would change a query value, and the service would count every run a success.
    """
    ok = succeeded(code)
    if "{code}" in template or "{status}" in template:
        return template.replace("{code}", str(code)).replace("{status}", "up" if ok else "down")
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(template)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{0 if ok else code}"))


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
    log.info("heartbeat sent (exit code %d: %s)", code, "success" if succeeded(code) else "failure")
    return True
