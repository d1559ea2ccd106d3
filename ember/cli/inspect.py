"""``ember inspect``: look inside a running VM through its control socket (``ember run --control``)."""

from __future__ import annotations

import argparse
import json
import socket
from typing import Any

from ember.errors import ConfigError, EmberError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    t = sub.add_parser("translate", help="guest-virtual → guest-physical → host, level by level")
    t.add_argument("address", help="guest-virtual address (0x... or decimal)")
    r = sub.add_parser("regs", help="a vCPU's registers")
    s = sub.add_parser("stats", help="exit statistics so far")
    for q in (t, r, s):
        q.add_argument("--control", required=True, metavar="SOCKET",
                       help="the control socket given to `ember run --control`")
        q.add_argument("--json", action="store_true", help="print the raw JSON reply")
    for q in (t, r):
        q.add_argument("--vcpu", type=int, default=0, help="which vCPU (default 0)")


def request(path: str, req: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(json.dumps(req).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        raise ConfigError(f"no VM listens on {path}: start one with `ember run --control {path} ...`") from None
    except OSError as exc:
        raise EmberError(f"control socket {path}: {exc.strerror or exc}") from None
    try:
        reply = json.loads(buf)
    except json.JSONDecodeError:
        raise EmberError(f"control socket {path} sent a malformed reply") from None
    if not reply.get("ok"):
        raise EmberError(str(reply.get("error", "request failed")))
    return reply  # type: ignore[no-any-return]


def _address(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise ConfigError(f"{text!r} is not an address: write 0xffff800000001000 or a decimal number") from None
    if not 0 <= value < 1 << 64:
        raise ConfigError(f"{text} is not a 64-bit address")
    return value


def main(args: argparse.Namespace) -> int:
    if args.what == "translate":
        reply = request(args.control, {"op": "translate", "gva": _address(args.address), "vcpu": args.vcpu})
        if args.json:
            print(json.dumps(reply))
        else:
            from ember.vmm.inspect import format_translation

            print(format_translation(reply))
        return 0 if "fault" not in reply else 1
    if args.what == "regs":
        reply = request(args.control, {"op": "regs", "vcpu": args.vcpu})
        if args.json:
            print(json.dumps(reply))
        else:
            for k, v in reply["regs"].items():
                print(f"{k:>7} = {v:#018x}")
        return 0
    reply = request(args.control, {"op": "stats"})
    if args.json:
        print(json.dumps(reply))
    else:
        st = reply["stats"]
        print(f"exits: {st['total']}")
        for k, v in st["by_reason"].items():
            print(f"  {k:<16} {v:>10}")
        for title in ("pio_out", "pio_in", "mmio_write", "mmio_read"):
            for k, v in list(st[title].items())[:8]:
                print(f"  {title:<10} {k:<12} {v:>10}")
    return 0
