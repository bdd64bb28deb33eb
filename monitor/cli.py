"""The command line: wires the steps together and owns the exit code. No business logic here.

Imports stay light at module level so ``--version`` and ``--help`` start fast; each command
imports what it needs.
"""

from __future__ import annotations

import argparse
import os
import sys

from monitor import __version__
from monitor.notify import CHANNELS

# ``--version`` and ``--help`` import nothing else (python -X importtime): logging, json, typing,
# hashlib and the rest load in ``main`` once the command line has been parsed. mypy reads this
# name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO, Any, NoReturn

    from monitor.redact import Redactor


def _pass_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--dry-run", action="store_true", help="query and print the report; post and write nothing")
    command.add_argument("--json", action="store_true", help="print the report as one JSON document")


def _history_options(command: argparse.ArgumentParser) -> None:
    # One list, not two optional positionals: argparse cannot take ``import -c x.yaml FILE`` otherwise.
    command.add_argument("action", nargs="*", metavar="export | import FILE",
                         help="export: every record as JSON Lines; import FILE (- for stdin): a v1 history or "
                              "JSON Lines into an empty history")
    command.add_argument("--since", metavar="TIME", help="export: records from this time (ISO 8601 or a date)")
    command.add_argument("--until", metavar="TIME", help="export: records up to this time")
    command.add_argument("--account", metavar="NAME", help="one account only")
    command.add_argument("--days", type=_days, default=14, metavar="N",
                         help=f"how many days back (default 14, at most {MAX_DAYS})")
    command.add_argument("--csv", action="store_true", help="CSV for spreadsheets")


def _notify_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--channel", metavar="NAME",
                         help=f"only this channel: {', '.join(CHANNELS)} (or one of a list, e.g. dingtalk[1])")


def _no_options(command: argparse.ArgumentParser) -> None:
    pass


# The subcommands: summary, own options, and whether -c/-v/-q/--log-file apply. ``run`` is the default.
_COMMANDS = {
    "run": ("one pass (the default command)", _pass_options, True),
    "check": ("the same pass, posting only the alerts that started or ended", _pass_options, True),
    "check-config": ("validate the config and list the accounts", _no_options, True),
    "test-notify": ("send a sample report through every channel (or --channel NAME)", _notify_options, True),
    "history": ("usage per day from the history (or: history export, history import FILE)", _history_options,
                True),
    "demo": ("one real pass against built-in emulated endpoints on 127.0.0.1", _no_options, False),
}
COMMANDS = tuple(_COMMANDS)
# Options followed by a value: that value is never a subcommand (``-c check-config`` names a file).
_TAKES_VALUE = {"-c", "--config", "--log-file", "--account", "--days", "--channel", "--since", "--until"}


class UsageError(Exception):
    pass


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that ``finally`` blocks (the lock, temp files) run."""


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, told the terminal's width the way ``shutil.get_terminal_size`` finds it.

    Left to itself argparse imports shutil (and with it zlib, bz2 and lzma) only to ask for the width.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def _columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def _parser(full: bool = True) -> argparse.ArgumentParser:
    """The command line. ``full=False`` leaves out the subcommands' own options: enough to print the
    top-level help or to refuse an unknown word, and quicker to build (start-up time is a feature)."""
    common = _Parser(add_help=False)
    common.add_argument("-c", "--config", metavar="PATH",
                        help="config file (default: $API_BALANCE_MONITOR_CONFIG, else ./config.yaml)")
    common.add_argument("-v", "--verbose", action="count", default=0, help="-v: info, -vv: debug")
    common.add_argument("-q", "--quiet", action="store_true", help="errors only")
    common.add_argument("--log-file", metavar="PATH", help="also write info and above to this file")

    parser = _Parser(prog="api-balance-monitor",
                     description="Query LLM API balances once and report them to your group chats.")
    parser.add_argument("--version", action="version", version=f"api-balance-monitor {__version__}")  # as in main
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    for name, (summary, options, takes_common) in _COMMANDS.items():
        if not full:
            sub.add_parser(name, help=summary, add_help=False)
            continue
        options(sub.add_parser(name, parents=[common] if takes_common else [], help=summary))
    return parser


MAX_DAYS = 3660  # ten years: far beyond any retention, and far short of the calendar's end


def _days(text: str) -> int:
    """``--days``: a whole number from 1 to ``MAX_DAYS`` (argparse turns the ValueError into exit 64)."""
    days = int(text)
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_DAYS}, not {text}")
    return days


_days.__name__ = "--days"  # argparse names the type in its message: "invalid --days value: 'abc'"


def _command_first(argv: list[str]) -> list[str]:
    """The subcommand moved to the front, since options may stand before or after it; ``run`` when none is
    given. argparse wants a subcommand's options after its name."""
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in _TAKES_VALUE:
            skip = True
        elif arg in COMMANDS:
            return [arg, *_words_first([*argv[:index], *argv[index + 1:]])]
        elif arg in ("-h", "--help", "--version") or not arg.startswith("-"):
            return argv  # the top level's own, or an unknown word: let argparse say so
    return ["run", *argv]


def _words_first(argv: list[str]) -> list[str]:
    """A subcommand's own words (``history import FILE``) before its options: argparse takes positionals
    in one go, so ``import -c x.yaml FILE`` would leave FILE unrecognised."""
    words, options, skip = [], [], False
    for arg in argv:
        if skip or arg.startswith("-") and arg != "-":
            options.append(arg)
            skip = not skip and arg in _TAKES_VALUE
        else:
            words.append(arg)
    return [*words, *options]


class _Output:
    """stdout that a reader who stops early (``| head -1``) cannot break: what it no longer wants is
    dropped, so the run still saves, pings the heartbeat and exits with its own code."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._lost()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._lost()

    def _lost(self) -> None:
        self.gone = True
        try:
            # The interpreter flushes stdout once more at exit; /dev/null takes what is left in its buffer.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a file (a test's StringIO)
            pass


def main(argv: Sequence[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    stderr = stderr or sys.stderr
    words = _command_first(list(sys.argv[1:] if argv is None else argv))
    if words == ["--version"]:
        # What argparse's version action does, without building the parser (cron wrappers call this).
        sys.stdout.write(f"api-balance-monitor {__version__}\n")
        sys.exit(0)
    # Without a subcommand's name nothing can reach a subcommand's options: --help, or an unknown word.
    full = any(word in COMMANDS for word in words)
    try:
        args = _parser(full).parse_args(words)
    except UsageError as exc:
        from monitor.exitcodes import Exit

        _parser(full).print_usage(stderr)
        print(exc, file=stderr)
        return Exit.USAGE
    import logging
    import traceback

    from monitor.exitcodes import Exit
    from monitor.redact import Redactor

    redactor = Redactor()
    _install_signals()
    out = _Output(stdout or sys.stdout)
    try:
        _setup_logging(args, redactor, stderr)
        code = _dispatch(args, redactor, out, stderr)  # type: ignore[arg-type]  # write and flush: all the commands use
        out.flush()
        return code
    except KeyboardInterrupt:
        print("interrupted", file=stderr)
        return Exit.SIGINT
    except Terminated:
        print("terminated", file=stderr)
        return Exit.SIGTERM
    except Exception:
        print("internal error (a bug; please report it with this traceback):", file=stderr)
        print(redactor(traceback.format_exc()), file=stderr, end="")
        return Exit.INTERNAL
    finally:
        logging.shutdown()


def _install_signals() -> None:
    import contextlib
    import signal

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    # Not possible outside the main thread (an in-process test): the default stays then.
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, terminate)


def _setup_logging(args: argparse.Namespace, redactor: Redactor, stderr: IO[str]) -> None:
    import logging

    from monitor.redact import RedactingFilter

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    verbose = getattr(args, "verbose", 0)
    if getattr(args, "quiet", False):
        level = logging.ERROR
    else:
        level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    console = logging.StreamHandler(stderr)
    console.setLevel(level)
    console.setFormatter(formatter)
    console.addFilter(RedactingFilter(redactor))
    root.addHandler(console)
    root.setLevel(min(level, logging.INFO) if getattr(args, "log_file", None) else level)
    for noisy in ("urllib3", "requests"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # their debug lines carry full URLs
    if getattr(args, "log_file", None):
        from logging.handlers import WatchedFileHandler

        path = args.log_file
        try:
            # Created 0600 (the log names accounts and hosts); an existing file keeps the mode logrotate gave it.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            file_handler = WatchedFileHandler(path, encoding="utf-8")  # logrotate may move the file meanwhile
        except OSError as exc:
            # The report matters more than the log: say so on stderr (cron mails it) and go on.
            # Said even under -q (then as an error): otherwise nothing at all would be written anywhere.
            logging.getLogger("monitor").log(
                max(logging.WARNING, level), "cannot write the log file %s: %s; logging to stderr only",
                path, exc.strerror or exc)
            return
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(formatter)
        file_handler.addFilter(RedactingFilter(redactor))
        root.addHandler(file_handler)


def _dispatch(args: argparse.Namespace, redactor: Redactor, stdout: IO[str], stderr: IO[str]) -> int:
    import logging

    from monitor.exitcodes import Exit

    log = logging.getLogger("monitor")
    if args.command == "demo":
        from monitor.demo import demo

        return demo(stdout)
    from monitor.config import ConfigError, load, resolve_path

    path = resolve_path(args.config, os.environ)
    try:
        config = load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("config: %s", problem)
        log.error("configuration error: nothing fetched, nothing written, nothing posted")
        return Exit.CONFIG
    redactor.add(*config.secrets())
    for warning in config.warnings:
        log.warning("config: %s", warning)
    if args.command == "check-config":
        from monitor.commands import check_config

        return check_config(config, stdout)
    if args.command == "test-notify":
        from monitor.commands import test_notify

        return test_notify(config, redactor, stdout, channel=args.channel)
    if args.command == "history" and args.action:
        from monitor.commands import history_export, history_import

        if args.action == ["export"]:
            return history_export(config, stdout, args.since, args.until, args.account)
        if args.action[0] == "import" and len(args.action) == 2:
            return history_import(config, args.action[1], stdout)
        log.error("history: expected `history export [--since T] [--until T] [--account NAME]` or "
                  "`history import FILE`, not %s", " ".join(args.action))
        return Exit.USAGE
    if args.command == "history":
        from monitor.commands import history

        return history(config, stdout, account=args.account, days=args.days, csv_out=args.csv, err=stderr)
    command = "check" if args.command == "check" else "report"
    return _run(config, redactor, stdout, dry_run=args.dry_run, as_json=args.json, command=command)


def _run(config: Any, redactor: Redactor, stdout: IO[str], dry_run: bool, as_json: bool, command: str) -> int:
    import json
    import logging
    from datetime import datetime, timezone

    from monitor.exitcodes import Exit
    from monitor.history import HistoryLocked
    from monitor.notify import heartbeat
    from monitor.run import run_once

    try:
        outcome = run_once(config, redactor, datetime.now(timezone.utc), dry_run=dry_run, command=command)
    except HistoryLocked as exc:
        logging.getLogger("monitor").error("%s; nothing done", exc)
        code = int(Exit.LOCKED)
    except Exception:
        # A bug: the heartbeat still hears "down" now rather than only when the next ping is overdue.
        if config.heartbeat_url:
            heartbeat.ping(config.heartbeat_url, Exit.INTERNAL, redactor, dry_run=dry_run)
        raise
    else:
        code = outcome.exit_code
        if as_json:
            stdout.write(json.dumps(outcome.document, ensure_ascii=False, indent=2) + "\n")
        elif dry_run or not config.channels or not outcome.delivery.delivered:
            # Undelivered: the balances go to stdout, so the mail cron sends still carries them.
            stdout.write(outcome.text)
    if config.heartbeat_url:
        heartbeat.ping(config.heartbeat_url, code, redactor, dry_run=dry_run)
    return code
