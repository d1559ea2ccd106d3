"""Boot benchmarks: ember vs QEMU side by side, in one run → BENCHMARKS.md section "boot".

    .venv/bin/python bench/boot.py [--runs 7] [--linux]

- test guest (the same PVH ELF): process start → first serial byte and → exit,
  ember vs ``qemu-system-x86_64 -M microvm`` (medians, alternating runs);
- one port-I/O exit round trip, measured by the guest itself (``pio`` scenario, ring 3);
- the VMM's own memory: process RSS minus the RSS of guest RAM, read from /proc/PID/smaps;
- with --linux: Debian's cloud kernel to its ``Linux version`` line, ember vs QEMU microvm
  (same kernel, initrd and command line; minutes on a software KVM).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine_line, write_section

EMBER = str(ROOT / ".venv" / "bin" / "ember")
QEMU = "qemu-system-x86_64"
MEM = "64"


def guest_elf() -> str:
    from ember.guests import test_guest_path

    return str(test_guest_path())


def qemu_cmd(kernel: str, cmdline: str, mem: str = MEM, initrd: str | None = None,
             cpus: int = 1) -> list[str]:
    cmd = [QEMU, "-enable-kvm", "-M", "microvm", "-m", mem, "-smp", str(cpus), "-nodefaults", "-nographic",
           "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1", "-kernel", kernel,
           "-append", cmdline]
    if initrd:
        cmd += ["-initrd", initrd]
    return cmd


def ember_cmd(kernel: str, cmdline: str, mem: str = MEM, initrd: str | None = None, cpus: int = 1) -> list[str]:
    cmd = [EMBER, "run", "--kernel", kernel, "--cmdline", cmdline, "--memory", f"{mem}M", "--cpus", str(cpus)]
    if initrd:
        cmd += ["--initrd", initrd]
    return cmd


def timed_run(cmd: list[str], until: bytes | None = None, timeout: float = 60) -> dict[str, float | str]:
    """Start *cmd*; time the first stdout byte, the line containing *until* (if given) and the exit."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    first = marker = None
    buf = b""
    assert p.stdout is not None
    fd = p.stdout.fileno()
    deadline = t0 + timeout
    while True:
        chunk = os.read(fd, 65536)
        now = time.perf_counter()
        if not chunk:
            break
        if first is None:
            first = now - t0
        buf += chunk
        if until and marker is None and until in buf:
            marker = now - t0
            p.terminate()
        if now > deadline:
            p.kill()
            break
    p.wait()
    end = time.perf_counter() - t0
    return {"first_byte": first or float("nan"), "marker": marker or float("nan"), "exit": end,
            "output": buf.decode(errors="replace"), "rc": p.returncode}


def vmm_overhead_kib(cmd: list[str], guest_mem_bytes: int, settle: float = 1.5) -> int:
    """RSS of the VMM process minus the RSS of its guest-RAM mapping, in KiB."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        time.sleep(settle)
        total = guest = 0
        size = 0
        for line in Path(f"/proc/{p.pid}/smaps").read_text().splitlines():
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                size = hi - lo
            elif line.startswith("Rss:"):
                kib = int(line.split()[1])
                total += kib
                if size == guest_mem_bytes:
                    guest += kib
        return total - guest
    finally:
        p.kill()
        p.wait()


def pio_ns_per_exit(output: str) -> float:
    m = re.search(r"pio: \d+ exits in \d+ ns \((\d+) ns/exit\)", output)
    return float(m.group(1)) if m else float("nan")


def med(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--linux", action="store_true", help="also boot Debian's kernel to 'Linux version' (slow)")
    args = ap.parse_args()
    # Measure what `make setup` leaves behind: compiled bytecode (stale .pyc files
    # would be recompiled on every run where PYTHONDONTWRITEBYTECODE is set).
    import compileall

    compileall.compile_dir(str(ROOT / "ember"), quiet=1)
    elf = guest_elf()
    rows: dict[str, dict[str, list[float]]] = {"ember": {}, "qemu": {}}
    for i in range(args.runs):
        for name, mk in (("ember", ember_cmd), ("qemu", qemu_cmd)):
            r = timed_run(mk(elf, "hello"))
            if "hello from ember test guest" not in str(r["output"]):
                print(f"{name} did not boot the test guest: {r['output']!r}", file=sys.stderr)
                return 1
            if i == 0:
                continue  # warm-up: page cache, pyc files
            rows[name].setdefault("first", []).append(float(r["first_byte"]) * 1000)
            rows[name].setdefault("exit", []).append(float(r["exit"]) * 1000)
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    for name, mk in (("ember", ember_cmd), ("qemu", qemu_cmd)):
        vals = []
        for _ in range(3):
            r = timed_run(mk(elf, "pio 20000"))
            vals.append(pio_ns_per_exit(str(r["output"])))
        rows[name]["pio"] = vals
        rows[name]["rss"] = [vmm_overhead_kib(mk(elf, "tick"), int(MEM) << 20) / 1024]
    e, q = rows["ember"], rows["qemu"]
    lines = [
        "## Boot: ember vs QEMU (same test-guest ELF, PVH)",
        "",
        machine_line(),
        f"KVM: {_flavour()}. QEMU: {_qemu_version()} with `-M microvm -m {MEM} -nodefaults -nographic`.",
        f"Reproduce: `.venv/bin/python bench/boot.py --runs {args.runs}`"
        + f" (medians of {args.runs - 1} runs after a warm-up).",
        "",
        "| measure | ember | QEMU | ember / QEMU |",
        "|---|---:|---:|---:|",
    ]
    for key, label, unit in (("first", "process start → first serial byte", "ms"),
                             ("exit", "process start → exit (test:hello)", "ms"),
                             ("pio", "port-I/O exit round trip (guest-timed `pio` loop)", "µs"),
                             ("rss", "VMM memory: RSS minus guest RAM", "MiB")):
        ev, qv = med(e[key]), med(q[key])
        if key == "pio":
            ev, qv = ev / 1000, qv / 1000
        lines.append(f"| {label} | {ev:.1f} {unit} | {qv:.1f} {unit} | {ev / qv:.2f} |")
    lines += ["", ("Both use a split irqchip (LAPICs in KVM, the IOAPIC in the VMM), QEMU's microvm "
                   "default and ember's only arrangement; neither has an in-kernel PIT.")]
    lines += ["", *startup_rows(args.runs)]
    write_section("boot", "\n".join(lines))
    print("\n".join(lines))
    if args.linux:
        linux = ["## Boot: Debian's kernel, ember vs QEMU", "", machine_line(),
                 "Reproduce: `.venv/bin/python bench/boot.py --linux` (one run each; minutes on a software KVM).",
                 "", *linux_rows()]
        write_section("boot-linux", "\n".join(linux))
        print("\n".join(linux))
    return 0


#: Everything `ember run --guest test:hello` imports (ember/record.py says why it is kept lean).
RUN_PATH_MODULES = ("ember.cli,ember.cli.run,ember.vmm.vm,ember.vmm.console,ember.guests,"
                    "ember.devices.legacy.serial,ember.devices.legacy.i8042,ember.devices.legacy.rtc,"
                    "ember.devices.legacy.debug_exit,ember.devices.legacy.ioapic")


def _instructions(cmd: list[str]) -> int | None:
    """Instructions executed by *cmd* under callgrind: exact, and independent of machine load."""
    import shutil

    if not shutil.which("valgrind"):
        return None
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
                       capture_output=True, text=True, check=False)
    m = re.search(r"Collected : (\d+)", r.stderr)
    return int(m.group(1)) if m else None


def startup_rows(runs: int) -> list[str]:
    """Where ember's start-up goes: the interpreter, the imports of the run path, the rest."""
    py = str(ROOT / ".venv" / "bin" / "python")
    steps = [("Python interpreter start (`python -c pass`)", [py, "-c", "pass"]),
             ("… plus importing everything `ember run` needs", [py, "-c", f"import {RUN_PATH_MODULES}"])]
    out = ["Where ember's start-up time goes (medians; instruction counts from callgrind, load-independent):", "",
           "| step | wall | instructions |", "|---|---:|---:|"]
    for label, cmd in steps:
        wall = med([float(timed_run(cmd)["exit"]) * 1000 for _ in range(max(runs, 3))])
        n = _instructions(cmd)
        out.append(f"| {label} | {wall:.1f} ms | {f'{n / 1e6:.0f} M' if n else 'n/a'} |")
    return out


def linux_rows() -> list[str]:
    from ember.images.cache import cache_dir
    from ember.vmm.defaults import default_linux_cmdline

    kernel = str(cache_dir() / "kernel" / "latest" / "vmlinuz")
    initrd = str(cache_dir() / "initramfs" / "default.cpio.gz")
    cmdline = default_linux_cmdline()
    out = [(f"Linux to its `Linux version` line (Debian {Path(kernel).resolve().parent.name}, "
            f"cmdline `{cmdline}`, 256 MiB)"), "",
           "| VMM | first serial byte | `Linux version` line | ratio (ember / QEMU) |", "|---|---:|---:|---:|"]
    res = {}
    for name, mk in (("ember", ember_cmd), ("qemu", qemu_cmd)):
        r = timed_run(mk(kernel, cmdline, "256", initrd), until=b"Linux version", timeout=900)
        res[name] = r
    for name in ("ember", "qemu"):
        r = res[name]
        ratio = float(res["ember"]["marker"]) / float(res["qemu"]["marker"])
        out.append(f"| {name} | {float(r['first_byte']):.1f} s | {float(r['marker']):.1f} s | "
                   f"{ratio:.2f} |" if name == "ember" else
                   f"| {name} | {float(r['first_byte']):.1f} s | {float(r['marker']):.1f} s | 1.00 |")
    return out


def _flavour() -> str:
    from ember.kvm.system import kvm_flavour

    return kvm_flavour().description


def _qemu_version() -> str:
    try:
        out = subprocess.run([QEMU, "--version"], capture_output=True, text=True, check=False).stdout
        return out.splitlines()[0].replace("QEMU emulator version ", "QEMU ")
    except (OSError, IndexError):
        return "QEMU"


if __name__ == "__main__":
    sys.exit(main())
