"""Bad input gets one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os

import pytest
from vmmtest import ember


def one_line_error(r) -> str:  # type: ignore[no-untyped-def]
    assert r.returncode not in (0, 70), (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("ember: error: ")
    return lines[0]


@pytest.fixture
def garbage(tmp_path) -> str:  # type: ignore[no-untyped-def]
    p = tmp_path / "garbage"
    p.write_bytes(os.urandom(100_000))
    return str(p)


@pytest.mark.parametrize(
    "args, expect",
    [
        (["--kernel", "/nonexistent/vmlinuz"], "does not exist"),
        (["--kernel", "/bin/true"], "without a PVH entry note"),
        (["--guest", "test:hello", "--memory", "1K"], "too small"),
        (["--guest", "test:hello", "--memory", "100000T"], "exceeds the guest-physical address space"),
        (["--guest", "test:hello", "--memory", "lots"], "is not a size"),
        (["--guest", "test:hello", "--memory", "1000G"], "more than this host's RAM"),
        (["--guest", "test:hello", "--cpus", "0"], "at least one vCPU"),
        (["--guest", "test:hello", "--cpus", "100000"], "allows at most"),
        (["--guest", "test:no-such-scenario"], "unknown test-guest scenario 'no-such-scenario'"),
        (["--guest", "linux"], "write test:<scenario>"),
        (["--guest", "test:hello", "--cmdline", "x" * 5000], "command line is"),
        (["--guest", "test:hello", "--cmdline", "caf\u00e9"], "must be ASCII"),
        (["--guest", "test:hello", "--initrd", "/nonexistent/initrd"], "does not exist"),
        (["--guest", "test:hello", "--timeout", "-1"], "positive number of seconds"),
    ],
)
def test_bad_run_arguments(args: list[str], expect: str) -> None:
    line = one_line_error(ember("run", *args))
    assert expect in line, line


def test_garbage_kernel(garbage: str) -> None:
    line = one_line_error(ember("run", "--kernel", garbage))
    assert "neither an ELF kernel with a PVH note nor a bzImage" in line


def test_truncated_elf(tmp_path, test_guest) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "trunc.elf"
    p.write_bytes(test_guest.read_bytes()[:300])
    line = one_line_error(ember("run", "--kernel", str(p)))
    assert str(p) in line


def test_initrd_too_large_for_the_layout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ember.images.cache import cache_dir  # noqa: F401  (kernel from the image cache)

    kernel = os.path.expanduser("~/.cache/ember/kernel/latest/vmlinuz")
    if not os.path.exists(kernel):
        pytest.skip("Debian kernel not fetched (make setup runs `ember image kernel`)")
    big = tmp_path / "big.cpio"
    with open(big, "wb") as f:
        f.truncate(200 << 20)
    line = one_line_error(ember("run", "--kernel", kernel, "--initrd", str(big), "--memory", "128M"))
    assert "initrd" in line and "does not fit" in line


def test_missing_kvm_is_explained(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ember.kvm import Kvm, KvmUnavailable

    with pytest.raises(KvmUnavailable, match="does not exist: load the KVM module"):
        Kvm(str(tmp_path / "kvm"))
    noperm = tmp_path / "kvm-noperm"
    noperm.write_bytes(b"")
    noperm.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(KvmUnavailable, match="no permission"):
            Kvm(str(noperm))
