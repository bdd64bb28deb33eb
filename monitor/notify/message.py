"""What a channel is asked to post: the full report or a short alert, in one neutral shape.

Every channel renders a ``Message`` in its own best form (a card, markdown, Block Kit, HTML, a
mail, JSON). A message is a title, a state, sections (one per account) and footer lines; channels
that must split a long message split it between sections, never inside one.

Every string in a message is plain text, never markup: our wording mixed with text from outside the
config (account names, notes, providers' and relays' error texts). A channel escapes each string with
its own ``escape`` when it renders (see ``monitor.notify.inert``) and puts its own markup (a bold
heading, a colour, the configured mentions) around it, so that outside text never formats, links or
mentions, while our formatting stays.

To post a short alert through every configured channel::

    from monitor import notify
    from monitor.notify.message import Message

    message = Message.alert("⚠️ 余额告警", "low", ["main：剩余 $1.2346，低于 $5.0000"], mention=True)
    results = notify.deliver_all(config.channels, message, redactor)   # one Result per channel
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.report.words import WORDS

if TYPE_CHECKING:
    from monitor.report import Report

T = TypeVar("T")

STATES = ("ok", "low", "failed")


@dataclass(frozen=True)
class Section:
    heading: str  # e.g. "❌ main": may be "" for an alert's plain lines
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Message:
    """A report or an alert. ``mention`` says whether the channel's ``mention_on_alert`` people are woken."""

    title: str
    state: str  # ok | low | failed: the colour of a card, the mark of a subject line
    sections: tuple[Section, ...]
    footer: tuple[str, ...] = ()
    mention: bool = False
    language: str = "zh"
    report: Report | None = None  # the full report behind it (Feishu's card renders that)
    history_problem: str | None = None
    document: dict[str, Any] | None = None  # the --json document, for the webhook

    @classmethod
    def alert(cls, title: str, state: str, lines: Sequence[str], mention: bool = False,
              language: str = "zh") -> Message:
        """A short message ("alert started", "recovered"): a title and a few lines."""
        return cls(title, state, (Section("", tuple(lines)),), mention=mention, language=language)

    def part_title(self, n: int, count: int) -> str:
        return self.title + (WORDS[self.language]["part"].format(n=n, count=count) if count > 1 else "")


def from_report(report: Report, history_problem: str | None = None,
                document: dict[str, Any] | None = None) -> Message:
    """The report as a message: one section per account, the summary and the footnote as footer."""
    from monitor.report.site import sections as blocks
    from monitor.report.text import footnote_lines, summary_lines, title

    # One section per account; a relay site as its summary and the items that need a look.
    sections = tuple(Section(b.heading, b.lines) for b in blocks(report))
    footer = (*summary_lines(report, history_problem), *footnote_lines(report))
    return Message(title(report), report.state, sections, footer, mention=report.state != "ok" and not report.test,
                   language=report.language, report=report, history_problem=history_problem, document=document)


@dataclass(frozen=True)
class Part:
    """One numbered piece of a message: the first carries the mention, the last the footer."""

    message: Message
    title: str
    sections: tuple[Section, ...]
    first: bool
    last: bool

    @property
    def mention(self) -> bool:
        return self.first and self.message.mention

    @property
    def footer(self) -> tuple[str, ...]:
        return self.message.footer if self.last else ()


def split(message: Message, render: Callable[[Part], T], fits: Callable[[T], bool]) -> list[T]:
    """The message rendered as few parts as fit: sections packed greedily in order.

    A section too large on its own is cut between its lines; a line too large on its own is sent
    alone (the channel's ``render`` must then shorten it).
    """
    whole = render(Part(message, message.title, message.sections, True, True))
    if fits(whole):
        return [whole]
    probe_title = message.part_title(99, 99)  # part numbers change the size a little: pack for the widest
    groups: list[list[Section]] = [[]]

    def fits_alone(sections: list[Section], first: bool, last: bool) -> bool:
        return fits(render(Part(message, probe_title, tuple(sections), first, last)))

    for section in _pieces(message, fits_alone):
        trial = groups[-1] + [section]
        if not groups[-1] or fits_alone(trial, len(groups) == 1, False):
            groups[-1] = trial
        else:
            groups.append([section])
    # The footer goes with the last part, or a part of its own when it does not fit there.
    if len(groups) > 0 and not fits_alone(groups[-1], len(groups) == 1, True):
        groups.append([])
    count = len(groups)
    return [render(Part(message, message.part_title(i + 1, count), tuple(g), i == 0, i == count - 1))
            for i, g in enumerate(groups)]


def _pieces(message: Message, fits_alone: Callable[[list[Section], bool, bool], bool]) -> list[Section]:
    out: list[Section] = []
    for section in message.sections:
        if fits_alone([section], True, False):
            out.append(section)
            continue
        lines: list[str] = []
        for line in section.lines:
            if lines and not fits_alone([Section(section.heading, (*lines, line))], True, False):
                out.append(Section(section.heading, tuple(lines)))
                lines = []
            lines.append(line)
        out.append(Section(section.heading, tuple(lines)))
    return out
