"""``ember image``: fetch the Debian cloud kernel, build the initramfs.

    ember image kernel [--dest DIR] [--force] [--json]
    ember image initramfs [--modules m1,m2] [--out FILE] [--compress gzip|none] [--json]

Heavy imports (rich, pyelftools) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="image_command", metavar="{kernel,initramfs}")
    sub.required = True

    k = sub.add_parser(
        "kernel",
        help="download Debian's linux-image-cloud-amd64 with apt and unpack it (no install)",
        description="Download the kernel package linux-image-cloud-amd64 depends on, with "
        "'apt-get download', and unpack vmlinuz, config and the modules into the cache.",
    )
    k.add_argument("--dest", type=Path, help="directory to unpack into (default: the cache)")
    k.add_argument("--force", action="store_true", help="fetch again even if already unpacked")
    k.add_argument("--json", action="store_true", help="print the paths as JSON")

    i = sub.add_parser(
        "initramfs",
        help="build a cpio initramfs: busybox-static, ember's /init, kernel modules",
        description="Build a newc cpio initramfs whose /init prints EMBER-INIT-OK, the kernel "
        "release and command line, then reboots (ember.exit=poweroff|shell on the kernel "
        "command line changes that).",
    )
    i.add_argument(
        "--modules",
        default="",
        help="comma-separated kernel modules to include and load (dependencies are added)",
    )
    i.add_argument("--out", type=Path, help="output file (default: in the cache)")
    i.add_argument(
        "--kernel-dir",
        type=Path,
        help="where 'ember image kernel' unpacked the kernel (default: the cache)",
    )
    i.add_argument("--busybox", type=Path, help="a static busybox binary (default: /bin/busybox)")
    i.add_argument("--compress", choices=("gzip", "none"), default="gzip")
    i.add_argument("--json", action="store_true", help="print the result as JSON")


def main(args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "kernel": _kernel,
        "initramfs": _initramfs,
    }
    return handlers[args.image_command](args)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], None]]:
    """A status line on stderr while working (rich), silent with --json or without a tty."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _msg: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("working") as status:
        yield lambda msg: status.update(msg)


def _kernel(args: argparse.Namespace) -> int:
    from ember.images.kernel import fetch_kernel

    with _progress(not args.json) as report:
        image = fetch_kernel(args.dest, force=args.force, report=report)
    if args.json:
        print(json.dumps(image.as_json(), indent=2))
    else:
        meta = image.metadata
        print(f"kernel {image.release} ({meta.get('package', '?')} {meta.get('version', '?')})")
        print(f"  vmlinuz  {image.vmlinuz}")
        print(f"  config   {image.config}")
        print(f"  modules  {image.modules_dir}")
    return 0


def _initramfs(args: argparse.Namespace) -> int:
    from ember.images import ImageError
    from ember.images.initramfs import DEFAULT_BUSYBOX, default_output, write_initramfs
    from ember.images.kernel import find_kernel

    modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    kernel = find_kernel(args.kernel_dir)
    if modules and kernel is None:
        where = args.kernel_dir or "the cache"
        raise ImageError(
            f"no unpacked kernel in {where} to take modules from: run 'ember image kernel' first"
        )
    out: Path = args.out or default_output(modules)
    with _progress(not args.json) as report:
        report(f"building {out.name}")
        info = write_initramfs(
            out,
            modules,
            kernel=kernel,
            busybox=args.busybox or DEFAULT_BUSYBOX,
            compression=args.compress,
        )
    if args.json:
        print(json.dumps({"path": str(out), **info.as_json()}, indent=2))
    else:
        print(f"initramfs {out} ({info.size / 1024:.0f} KiB, {info.compression})")
        for path in info.modules:
            print(f"  module   {path}")
        for name in info.builtin:
            print(f"  built in {name} (nothing to load)")
    return 0
