"""Feishu interactive cards (card JSON 1.0): the report, split into parts that fit the webhook, and an alert."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from monitor.notify.inert import markdown_inert
from monitor.notify.message import Part
from monitor.report import AccountReport, Report
from monitor.report.site import Section, sections
from monitor.report.text import detail_lines, footnote_lines, status_line, summary_lines, title
from monitor.report.words import WORDS

COLOURS = {"ok": "green", "low": "orange", "failed": "red"}

Card = dict[str, Any]


def div(text: str) -> dict[str, Any]:
    return {"tag": "div", "text": {"tag": "lark_md", "content": text}}


def escape(text: str) -> str:
    """Plain text for lark_md, inert: account names, notes and error texts never bold, link or mention
    (``**``, ``[x](y)``, ``<at id=all></at>``, ``<font>``); the card's own bold and ``<at>`` stay live."""
    return markdown_inert(text)


def account_block(a: AccountReport, language: str) -> dict[str, Any]:
    return block(Section(status_line(a), tuple(detail_lines(a, language))))


def block(section: Section) -> dict[str, Any]:
    head = [f"**{escape(section.heading)}**"] if section.heading else []
    return div("\n".join([*head, *(escape(line) for line in section.lines)]))


def mention_text(mentions: Sequence[str]) -> str:
    return " ".join(f"<at id={m}></at>" for m in mentions)


def card(
    report: Report,
    accounts: Sequence[AccountReport | Section],
    *,
    part: tuple[int, int] = (1, 1),
    mentions: Sequence[str] = (),
    keyword: str = "",
    history_problem: str | None = None,
) -> Card:
    """One card holding ``accounts`` (or the report's sections); the first part carries the mentions, the
    last the summary."""
    w = WORDS[report.language]
    n, count = part
    header = title(report) + (w["part"].format(n=n, count=count) if count > 1 else "")
    elements: list[dict[str, Any]] = []
    if mentions and n == 1 and report.state != "ok":
        elements.append(div(mention_text(mentions)))
    for i, a in enumerate(accounts):
        if i:
            elements.append({"tag": "hr"})
        elements.append(account_block(a, report.language) if isinstance(a, AccountReport) else block(a))
    if n == count:
        elements.append({"tag": "hr"})
        elements.append(div("\n".join(escape(line) for line in summary_lines(report, history_problem))))
    notes = footnote_lines(report) if n == count else []
    if keyword and keyword not in header:
        notes.append(w["keyword"].format(keyword=keyword))  # the bot rejects any message without it (19024)
    if notes:
        elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": " ".join(notes)}]})
    return {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": header}, "template": COLOURS[report.state]},
        "elements": elements,
    }


def cards(
    report: Report,
    fits: Callable[[Card], bool],
    *,
    mentions: Sequence[str] = (),
    keyword: str = "",
    history_problem: str | None = None,
) -> list[Card]:
    """The report as few cards as fit: its sections are packed greedily in report order."""

    def build(groups: list[list[Section]]) -> list[Card]:
        return [
            card(report, g, part=(i + 1, len(groups)), mentions=mentions, keyword=keyword,
                 history_problem=history_problem)
            for i, g in enumerate(groups)
        ]

    accounts = sections(report)
    whole = build([accounts])
    if fits(whole[0]):
        return whole
    # Part numbers change the size a little, so pack with a generous "(99/99)" count, then number.
    groups: list[list[Section]] = [[]]
    for a in accounts:
        trial = groups[-1] + [a]
        probe = card(report, trial, part=(99, 99), mentions=mentions, keyword=keyword, history_problem=history_problem)
        if fits(probe) or not groups[-1]:
            groups[-1] = trial
        else:
            groups.append([a])
    return build(groups)


def alert_card(part: Part, mentions: Sequence[str], keyword: str) -> Card:
    """One part of a message that is not the report (an alert, a test): its sections, the keyword in a note."""
    elements: list[dict[str, Any]] = []
    if part.mention and mentions:
        elements.append(div(mention_text(mentions)))
    for section in part.sections:
        lines = [f"**{escape(section.heading)}**"] if section.heading else []
        elements.append(div("\n".join([*lines, *(escape(line) for line in section.lines)])))
    if part.footer:
        elements.append(div("\n".join(escape(line) for line in part.footer)))
    if keyword and keyword not in part.title:
        elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": keyword}]})
    return {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": part.title}, "template": COLOURS[part.message.state]},
        "elements": elements,
    }
