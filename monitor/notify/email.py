"""E-mail over SMTP: plain text with an HTML alternative, TLS or STARTTLS, every recipient checked."""

from __future__ import annotations

import html
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any, ClassVar

from monitor import __version__, checks
from monitor.checks import rule
from monitor.notify import base, fields
from monitor.notify.message import Message
from monitor.redact import cut
from monitor.schema import Reader, Settings, Where, setting


def _address(value: Any) -> str:
    text = checks.nonempty(value)
    if "@" not in text or any(c.isspace() for c in text.strip("<> ").rsplit("<", 1)[-1]):
        raise ValueError(f"must be an e-mail address such as ops@example.com, not {text!r}")
    return text


def _addresses(value: Any) -> tuple[str, ...]:
    found: tuple[str, ...] = rule(checks.string_list, bool, "must list at least one address")(value)
    for item in found:
        _address(item)
    return found


@dataclass(frozen=True)
class EmailSettings(Settings):
    host: str = field(metadata=setting(checks.nonempty, secret=False))
    sender: str = field(metadata=setting(_address, secret=False, key="from"))
    to: tuple[str, ...] = field(metadata=setting(_addresses, secret=False))
    port: int = field(default=465, metadata=setting(rule(checks.number(1, integer=True), lambda port: port <= 65535,
                                                         "must be a port number, 1 to 65535")))
    security: str = field(default="tls", metadata=setting(checks.one_of("tls", "starttls", "none"), secret=False))
    username: str = field(default="", metadata=setting(checks.string))
    password: str = field(default="", metadata=fields.SECRET)
    kind: ClassVar[str] = "email"

    @classmethod
    def checked(cls, r: Reader, path: Where, values: dict[str, Any], raw: Any) -> Any:
        if "port" not in raw:  # by default the one of `security`
            values["port"] = {"tls": 465, "starttls": 587, "none": 25}[values.get("security", "tls")]
        made = super().checked(r, path, values, raw)
        if made and bool(made.username) != bool(made.password):
            r.problem(path, "needs both username and password, or neither")
            return None
        if made and made.security == "none" and made.password and not checks.is_loopback(made.host):
            r.problem((*path, "security"), f"is none, which would send the password unencrypted to {made.host}: "
                                           "use tls (port 465) or starttls (port 587)")
            return None
        return made


SETTINGS = EmailSettings
WHERE_TO_LOOK = "check the inbox"  # test-notify's hint: where a person sees the sample report


def describe(settings: EmailSettings) -> str:
    where = f"{settings.security} to {settings.host}:{settings.port}, from {settings.sender} to " + ", ".join(
        settings.to)
    # a login is named, its password not even masked: a password has no hint
    return fields.described(where, [f"login {settings.username} with a password"] if settings.username else [])

TIMEOUT = 30.0
COLOURS = {"ok": "#2e7d32", "low": "#ef6c00", "failed": "#c62828"}


def plain(message: Message) -> str:
    out = [message.title, ""]
    for section in message.sections:
        if section.heading:
            out.append(section.heading)
        out += [f"  {line}" if section.heading else line for line in section.lines]
        out.append("")
    out += list(message.footer)
    return "\n".join(out).rstrip() + "\n"


def html_of(message: Message) -> str:
    e = html.escape
    out = [f'<h2 style="color:{COLOURS.get(message.state, "#000")}">{e(message.title)}</h2>']
    for section in message.sections:
        if section.heading:
            out.append(f"<h3>{e(section.heading)}</h3>")
        if section.lines:
            out.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in section.lines) + "</ul>")
    if message.footer:
        out.append('<p style="color:#666">' + "<br>".join(e(line) for line in message.footer) + "</p>")
    return "<!DOCTYPE html>\n<html><body>\n" + "\n".join(out) + "\n</body></html>\n"


def address(text: str) -> Address:
    """``监控 <mon@example.com>`` or a bare ``mon@example.com`` as an address with its display name.

    The display name goes into the header RFC 2047-encoded (``=?utf-8?b?…?=``); only the bare address
    goes into the SMTP envelope, so a server without SMTPUTF8 takes the mail.
    """
    name, spec = parseaddr(text)
    return Address(display_name=name, addr_spec=spec or text.strip())


def mail(message: Message, settings: EmailSettings) -> EmailMessage:
    sender = address(settings.sender)
    m = EmailMessage()
    m["Subject"] = message.title
    m["From"] = sender
    m["To"] = [address(to) for to in settings.to]
    m["Date"] = formatdate(localtime=True)
    m["Message-ID"] = make_msgid(domain=sender.domain or None)
    m["X-Mailer"] = f"api-balance-monitor/{__version__}"
    m.set_content(plain(message))
    m.add_alternative(html_of(message), subtype="html")
    return m


class Channel(base.Channel[EmailSettings]):
    kind = "email"

    def render(self, message: Message) -> list[Any]:
        return [mail(message, self.settings)]  # a mail has no size limit worth splitting for

    def attempt(self, part: Any) -> base.Verdict:
        s = self.settings
        try:
            with self._connect() as smtp:
                if s.username:
                    smtp.login(s.username, s.password)
                # The envelope carries bare addresses: a display name there needs SMTPUTF8 (or is refused).
                refused = smtp.send_message(part, from_addr=address(s.sender).addr_spec,
                                            to_addrs=[address(to).addr_spec for to in s.to])
        except smtplib.SMTPRecipientsRefused as exc:
            return base.Verdict(f"the mail server refused every recipient: {_refusals(exc.recipients)}")
        except smtplib.SMTPAuthenticationError as exc:
            return base.Verdict(f"the mail server refused the login ({_reply(exc.smtp_code, exc.smtp_error)}): "
                                "check email.username and email.password (SMTP_USER, SMTP_PASSWORD)")
        except smtplib.SMTPNotSupportedError as exc:
            return base.Verdict(f"the mail server does not support this: {exc}; check email.security")
        except smtplib.SMTPSenderRefused as exc:
            return base.Verdict(f"the mail server refused the sender {exc.sender} "
                                f"({_reply(exc.smtp_code, exc.smtp_error)}): check email.from",
                                retry=400 <= exc.smtp_code < 500)
        except smtplib.SMTPResponseException as exc:
            return base.Verdict(f"the mail server answered {_reply(exc.smtp_code, exc.smtp_error)}",
                                retry=400 <= exc.smtp_code < 500)
        except ssl.SSLError as exc:
            return base.Verdict(f"TLS with {s.host}:{s.port} failed ({exc.reason or exc}): check email.port and "
                                "email.security (465 = tls, 587 = starttls)")
        except (smtplib.SMTPException, OSError) as exc:
            reason = "timed out" if isinstance(exc, (TimeoutError, socket.timeout)) else str(exc) or type(exc).__name__
            return base.Verdict(f"cannot reach the mail server {s.host}:{s.port}: {reason}", retry=True)
        if refused:
            # Some recipients got it and some did not: not retried, or the others would get it twice.
            return base.Verdict(f"the mail server refused some recipients: {_refusals(refused)}")
        return base.DELIVERED

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        if s.security == "tls":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=TIMEOUT, context=context)
        smtp = smtplib.SMTP(s.host, s.port, timeout=TIMEOUT)
        try:
            if s.security == "starttls":
                smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _reply(code: int, text: bytes | str) -> str:
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {cut(shown.strip(), 150)}"


def _refusals(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{address} ({_reply(code, text)})" for address, (code, text) in recipients.items())
