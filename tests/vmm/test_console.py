"""The serial console on a Unix socket: a client types, the guest echoes through the UART interrupt."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from vmmtest import ROOT, ember

pytestmark = pytest.mark.kvm


def test_serial_socket_carries_both_directions(tmp_path, test_guest) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "ttyS0")
    p = subprocess.Popen([sys.executable, "-m", "ember", "run", "--guest", "test:echo", "--serial-socket", path,
                          "--timeout", "60"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("the serial socket never appeared")
        s.settimeout(30)
        buf = b""
        while b"ready" not in buf:
            chunk = s.recv(4096)
            assert chunk, buf
            buf += chunk
        s.sendall(b"sock!q")
        while b"sock!" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        assert b"sock!" in buf
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out == b""  # the console went to the socket, not the terminal
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_serial_socket_path_in_use_is_a_clean_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "taken"
    path.write_text("")
    r = ember("run", "--guest", "test:hello", "--serial-socket", str(path))
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr
