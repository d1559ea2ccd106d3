"""``ember run``: boot a VM on KVM, its serial console on this terminal."""

from __future__ import annotations

import argparse
import sys
import threading
import time

from ember.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: After the VM has stopped and been closed, nothing is left to tear down.
FAST_EXIT = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--kernel", metavar="FILE", help="a bzImage, or an ELF kernel with a PVH note")
    what.add_argument("--guest", metavar="test:SCENARIO",
                      help="ember's test guest running SCENARIO (e.g. test:hello, 'test:memtouch 64')")
    p.add_argument("--initrd", metavar="FILE", help="initial ramdisk (cpio archive)")
    p.add_argument("--cmdline", default=None,
                   help="kernel command line (for a bzImage the default is a serial console and, on a "
                        "software KVM, the flags it needs; for --guest: extra scenario arguments)")
    p.add_argument("--cpus", type=int, default=1, metavar="N", help="number of vCPUs (default 1)")
    p.add_argument("--memory", default="256M", metavar="SIZE", help="guest RAM, e.g. 256M or 2G (default 256M)")
    p.add_argument("--stats", action="store_true", help="print exit statistics when the VM stops")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop the VM after this long (exit status 124)")
    p.add_argument("--serial-socket", metavar="PATH",
                   help="put the serial console on a Unix socket instead of the terminal; the VM "
                        "boots once a client connects (e.g. `socat - UNIX-CONNECT:PATH`)")
    p.add_argument("--control", metavar="SOCKET",
                   help="serve a control socket for `ember inspect` (translate, regs, stats)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (exit reason, status, console output, statistics) at the end")


def main(args: argparse.Namespace) -> int:
    from ember.vmm.config import VmConfig, parse_size

    t_start = time.perf_counter()
    if args.guest:
        from ember.guests import parse_guest_spec

        elf, cmdline = parse_guest_spec(args.guest)
        kernel = str(elf)
        if args.cmdline:
            cmdline = f"{cmdline} {args.cmdline}"
    else:
        kernel, cmdline = args.kernel, args.cmdline
        if cmdline is None:
            from ember.vmm.defaults import default_linux_cmdline, is_bzimage

            cmdline = default_linux_cmdline() if is_bzimage(kernel) else ""
    if args.timeout is not None and args.timeout <= 0:
        raise ConfigError(f"--timeout {args.timeout}: must be a positive number of seconds")
    config = VmConfig(kernel=kernel, cmdline=cmdline, initrd=args.initrd, vcpus=args.cpus,
                      memory=parse_size(args.memory, "--memory"))

    from ember.vmm.console import SocketConsole, StdinConsole, stdout_sink
    from ember.vmm.vm import Vm

    captured = bytearray()
    lock = threading.Lock()

    def capture(data: bytes) -> None:
        with lock:
            captured.extend(data)

    serial_socket = None
    console_out: Callable[[bytes], None]
    if args.serial_socket:
        # Created before the VM so a bad path fails before anything is built;
        # the UART is attached once the VM exists.
        serial_socket = SocketConsole(args.serial_socket, lambda data: vm.serial.enqueue_input(data))
        console_out = serial_socket.write
    else:
        console_out = capture if args.json else stdout_sink()
    try:
        vm = Vm(config, console_out=console_out)
    except BaseException:
        if serial_socket:
            serial_socket.stop()
        raise
    console = control = None
    try:
        if args.control:
            from ember.vmm.control import ControlServer

            control = ControlServer(vm, args.control)
            control.start()
        if serial_socket:
            print(f"ember: waiting for a connection on {args.serial_socket}", file=sys.stderr)
            serial_socket.wait_for_client()
            serial_socket.start()
        else:
            console = StdinConsole(vm.serial.enqueue_input, lambda: vm.request_stop("user", 0))
        import signal

        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda signum, _frame: vm.request_stop("signal", 128 + signum))
        vm.start()
        if console:
            console.start()
        result = vm.wait(args.timeout)
        if result is None:
            vm.request_stop("timeout", 124, detail=f"stopped after {args.timeout:g} s")
            result = vm.wait()
        elapsed = time.perf_counter() - t_start
    finally:
        if console:
            console.stop()
        if control:
            control.close()
        if serial_socket:
            serial_socket.stop()
        stats = vm.stats()
        vm.close()
    assert result is not None
    if args.json:
        import json

        print(json.dumps({
            "reason": result.reason, "status": result.status, "detail": result.detail,
            "seconds": round(elapsed, 6), "console": captured.decode("utf-8", "replace"),
            "stats": stats.to_dict(),
        }))
    else:
        if result.reason not in ("guest-exit",):
            msg = {"reset": "the guest reset the machine", "poweroff": "the guest powered off",
                   "triple-fault": "the guest triple-faulted (shutdown)", "user": "stopped by the user",
                   "timeout": "timed out", "halted": "the guest halted for good",
                   "signal": "stopped by a signal",
                   }.get(result.reason, result.reason)
            if result.reason == "error" and result.error is not None:
                raise result.error
            print(f"\nember: {msg}{': ' + result.detail if result.detail else ''}", file=sys.stderr)
        if args.stats:
            print(f"\nember: VM ran {elapsed * 1000:.1f} ms ({vm.config.vcpus} vCPU, "
                  f"stopped: {result.reason}, status {result.status})", file=sys.stderr)
            print(stats.format(vm.port_names), file=sys.stderr)
    return result.status
