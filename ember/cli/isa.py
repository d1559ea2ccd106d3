"""``ember isa run``: run a static RISC-V (RV64GC) Linux program."""

from __future__ import annotations

import argparse
import sys

from ember.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # An explicit prog keeps argparse from building a help formatter (and
    # importing shutil) just to work out the usage prefix.
    sub = parser.add_subparsers(dest="isa_command", metavar="ACTION", required=True,
                                prog=parser.prog)
    run = sub.add_parser("run", help="run a static RV64GC Linux executable",
                         description="Run a static RV64GC Linux executable in user mode.")
    run.add_argument("--engine", choices=("interp", "dbt", "native"), default="dbt",
                     help="interpreter, Python-level translator (default), or the translator "
                     "with hot integer loops compiled to x86-64")
    run.add_argument("--stats", action="store_true",
                     help="report instructions retired, MIPS and code-cache figures on stderr")
    run.add_argument("--json", action="store_true", help="print the statistics as JSON on stderr")
    run.add_argument("--no-cache", action="store_true",
                     help="dbt: translate every block each time it runs (no code cache, and "
                     "no compiled traces kept on disk between runs; EMBER_ISA_TRACE_CACHE=off "
                     "turns off only the latter)")
    run.add_argument("--limit", type=int, default=None, metavar="N",
                     help="stop with an error after about N instructions")
    run.add_argument("program", help="path of the RISC-V executable")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the program")


def _human(stats: dict[str, object]) -> str:
    lines = [
        f"engine              {stats['engine']}",
        f"instructions        {stats['instructions']:,}",
        f"seconds             {stats['seconds']:.3f}",
        f"MIPS                {stats['mips']:.2f} ({stats['cpu_mips']:.2f} per CPU second)",
    ]
    if stats["engine"] in ("dbt", "native"):
        lines += [
            f"blocks translated   {stats['blocks_translated']:,}",
            f"cache hits          {stats['cache_hits']:,}",
            f"cache misses        {stats['cache_misses']:,}",
            f"chain links         {stats['chain_links']:,}",
            (f"translation seconds {stats['translate_seconds']:.3f} "
             f"({stats.get('stored_traces', 0):,} traces from the on-disk cache)"),
            f"cold (interpreted)  {stats['cold_instructions']:,} instructions",
        ]
        if stats["engine"] == "native":
            lines.append(f"native x86-64 blocks {stats.get('native_blocks', 0):,}")
    else:
        lines.append(f"decoded             {stats['decoded']:,}")
    lines.append(f"code flushes        {stats['flushes']} whole, "
                 f"{stats.get('invalidations', 0)} of single pages")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from ember.isa.riscv import run_program

    if args.limit is not None and args.limit <= 0:
        raise ConfigError("--limit must be a positive number of instructions")
    if args.no_cache and args.engine == "interp":
        raise ConfigError("--no-cache only applies to --engine dbt or native")
    sys.stdout.flush()
    status, stats = run_program(args.program, [args.program, *args.args], engine=args.engine,
                                cache=not args.no_cache, limit=args.limit)
    if args.json:
        import json

        print(json.dumps(stats.as_dict()), file=sys.stderr)
    elif args.stats:
        print(_human(stats.as_dict()), file=sys.stderr)
    return status
