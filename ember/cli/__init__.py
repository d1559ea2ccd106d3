"""The ``ember`` command: a table of subcommands, one module each.

Only the module of the chosen subcommand is imported, so ``ember run`` does not
pay for NumPy or matplotlib (start-up time is part of boot time).
"""

from __future__ import annotations

import argparse
import os
import sys

from ember import __version__
from ember.errors import EmberError

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Sequence


class Command:
    """One subcommand: its name, the module that implements it, and its help line."""

    __slots__ = ("help", "module", "name")

    def __init__(self, name: str, module: str, help: str) -> None:
        self.name = name
        self.module = module
        self.help = help


#: name, module (which defines ``add_arguments(parser)`` and ``main(args) -> int``), help.
COMMANDS: tuple[Command, ...] = (
    Command("run", "ember.cli.run", "boot a VM: a Linux kernel or one of ember's test guests"),
    Command("inspect", "ember.cli.inspect", "look inside a VM: address translation, exit statistics"),
    Command("ctl", "ember.cli.ctl", "pause, resume or query a running VM"),
    Command("image", "ember.cli.image", "fetch a Linux kernel, build an initramfs"),
    Command("isa", "ember.cli.isa", "run RISC-V Linux programs by interpretation or translation"),
    Command("sim", "ember.cli.sim", "data-center consolidation policies on workload traces"),
)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, sized without ``shutil``.

    argparse builds a formatter for every ``add_argument`` and sizes it with
    ``shutil.get_terminal_size``; importing shutil loads zlib, bz2 and lzma,
    about 5 ms of every ``ember run`` (start-up is part of boot time). The
    width comes from the same places: $COLUMNS, else the terminal, else 80.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def terminal_columns(default: int = 80) -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        stdout = sys.__stdout__  # None without a console (e.g. pythonw)
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout is not None else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else default


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ember",
        formatter_class=HelpFormatter,
        description="ember: a virtualization platform in Python.",
        epilog="Run 'ember COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"ember {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        sub.add_parser(cmd.name, help=cmd.help)
    return parser


def error(message: str) -> None:
    """Print one line on stderr, the way every ember error looks."""
    print(f"ember: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    table = {c.name: c for c in COMMANDS}
    if not argv or argv[0] not in table:
        parser = _top_parser()
        if argv and not argv[0].startswith("-"):
            parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(table)}")
        parser.parse_args(argv)
        parser.print_help()
        return 0 if not argv else 2
    cmd = table[argv[0]]
    # __import__ rather than importlib.import_module: importlib pulls in warnings.
    __import__(cmd.module)
    module = sys.modules[cmd.module]
    parser = argparse.ArgumentParser(prog=f"ember {cmd.name}", description=cmd.help,
                                     formatter_class=HelpFormatter)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        status = int(module.main(args))
    except EmberError as exc:
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except Exception as exc:
        # A bug in ember must still not greet the user with a traceback; the
        # traceback is one environment variable away.
        if os.environ.get("EMBER_DEBUG"):
            raise
        error(f"internal error: {type(exc).__name__}: {exc} (set EMBER_DEBUG=1 for the traceback)")
        return 70
    if getattr(module, "FAST_EXIT", False) and from_command_line:
        # The command has nothing left for interpreter teardown to do (no atexit
        # work, everything closed): end the process now. Shutdown is part of
        # `ember run`'s boot-to-exit time.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
