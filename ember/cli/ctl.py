"""``ember ctl``: control a running VM through its control socket (``ember run --control``)."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("pause", "resume", "state"),
                   help="pause the vCPUs, resume them, or show the VM's state")
    p.add_argument("--control", required=True, metavar="SOCKET",
                   help="the control socket given to `ember run --control`")
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")


def main(args: argparse.Namespace) -> int:
    from ember.cli.inspect import request

    reply = request(args.control, {"op": args.action})
    if args.json:
        print(json.dumps(reply))
    elif args.action == "state":
        print(f"{reply['state']} ({reply['vcpus']} vCPUs, {reply['memory'] >> 20} MiB)")
    else:
        print(reply["state"])
    return 0
