"""A generic webhook: the ``--json`` document as the body, signed like GitHub's webhooks when ``secret`` is set."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from monitor import checks
from monitor.http import Response
from monitor.notify import base, fields
from monitor.notify.message import Message
from monitor.redact import mask_url
from monitor.schema import Settings, setting


@dataclass(frozen=True)
class WebhookSettings(Settings):
    url: str = field(metadata=fields.HOOK)
    secret: str = field(default="", metadata=fields.SECRET)
    # extra headers; a value taken from the environment, or a credential header's, is a secret
    headers: Mapping[str, str] = field(default_factory=dict, metadata=setting(checks.string, secret="header",
                                                                              per_header=True))
    kind: ClassVar[str] = "webhook"


SETTINGS = WebhookSettings
WHERE_TO_LOOK = "check the receiving end"  # test-notify's hint: where a person sees the sample report


def describe(settings: WebhookSettings) -> str:
    return fields.described(mask_url(settings.url), (["signed with X-Signature-256"] if settings.secret else [])
                            + (["headers " + ", ".join(settings.headers)] if settings.headers else []))


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>``: receivers can reuse their GitHub webhook check."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def body_of(message: Message) -> bytes:
    """The report's ``--json`` document; an alert as a small document of its own."""
    if message.document is not None:
        doc: dict[str, Any] = message.document
    else:
        doc = {"kind": "alert", "title": message.title, "state": message.state, "mention": message.mention,
               "sections": [{"heading": s.heading, "lines": list(s.lines)} for s in message.sections]}
    return json.dumps(doc, ensure_ascii=False, indent=None).encode("utf-8")


class Channel(base.Channel[WebhookSettings]):
    kind = "webhook"

    def render(self, message: Message) -> list[Any]:
        return [body_of(message)]  # one document: receivers want it whole, and no size limit is known

    def attempt(self, part: Any) -> base.Verdict:
        headers = {"Content-Type": "application/json", **self.settings.headers}
        if self.settings.secret:
            headers["X-Signature-256"] = signature(self.settings.secret, part)
        return self.exchange(self.settings.url, part, interpret, headers)


def interpret(answer: Response) -> base.Verdict:
    if 200 <= answer.status < 300:
        return base.DELIVERED
    reason = answer.text(120)
    error = f"HTTP {answer.status}" + (f" ({reason})" if reason else "")
    if answer.status == 429:
        return base.Verdict(error, retry=True, wait=base.retry_after(answer.headers))
    fix = {401: "the receiver refused the request: check webhook.secret and webhook.headers",
           403: "the receiver refused the request: check webhook.secret and webhook.headers",
           404: "check webhook.url"}.get(answer.status, "")
    return base.Verdict(error + (f": {fix}" if fix else ""), retry=answer.status >= 500)
