"""The VM's console on the host terminal: guest output to stdout, keyboard to the UART.

On a terminal, stdin goes into raw mode and Ctrl-A x quits, as in QEMU
(Ctrl-A Ctrl-A sends a literal Ctrl-A). From a pipe or file, bytes are
forwarded until end of file; the VM keeps running after that.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

CTRL_A = 0x01
QUIT_KEY = ord("x")
_POLL_SECONDS = 0.2


def stdout_sink(fd: int = 1) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        try:
            os.write(fd, data)
        except BlockingIOError:
            pass
        except OSError:
            pass  # a closed stdout must not kill the VM

    return write


class StdinConsole:
    def __init__(self, deliver: Callable[[bytes], int], on_quit: Callable[[], None], fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.deliver = deliver
        self.on_quit = on_quit
        self.is_tty = os.isatty(self.fd)
        self._saved: list | None = None  # type: ignore[type-arg]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._escape = False

    def start(self) -> None:
        if self.is_tty:
            self._saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)
        self._thread = threading.Thread(target=self._loop, name="console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], _POLL_SECONDS)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data = os.read(self.fd, 1024)
            except OSError:
                return
            if not data:
                return  # EOF: nothing more to give the guest
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        if not self.is_tty:
            self.deliver(data)
            return
        out = bytearray()
        for b in data:
            if self._escape:
                self._escape = False
                if b == QUIT_KEY:
                    if out:
                        self.deliver(bytes(out))
                    self.on_quit()
                    return
                if b == CTRL_A:
                    out.append(CTRL_A)
                continue
            if b == CTRL_A:
                self._escape = True
                continue
            out.append(b)
        if out:
            self.deliver(bytes(out))


class SocketConsole:
    """The serial console on a Unix socket (QEMU's ``-serial unix:PATH,server``).

    One client at a time: what it sends goes to the UART; guest output goes to
    the connected client (and is dropped while none is connected, as a
    disconnected serial cable drops it). :meth:`wait_for_client` lets the VMM
    hold the boot until someone listens, like QEMU's ``server,wait``.
    """

    def __init__(self, path: str, deliver: Callable[[bytes], int]) -> None:
        from ember.vmm.unix_socket import listen_unix

        self.path = path
        self.deliver = deliver
        self._client: socket.socket | None = None
        self._lock = threading.Lock()
        self._listener = listen_unix(path, "--serial-socket", backlog=1)
        self._thread = threading.Thread(target=self._loop, name="serial-socket", daemon=True)

    def wait_for_client(self) -> None:
        client, _ = self._listener.accept()
        with self._lock:
            self._client = client

    def start(self) -> None:
        self._thread.start()

    def write(self, data: bytes) -> None:
        with self._lock:
            client = self._client
        if client is None:
            return
        try:
            client.sendall(data)
        except OSError:
            self._drop(client)

    def stop(self) -> None:
        from ember.vmm.unix_socket import close_unix

        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
        close_unix(self._listener, self.path)

    def _drop(self, client: object) -> None:
        with self._lock:
            if self._client is client:
                self._client = None
        try:
            client.close()  # type: ignore[attr-defined]
        except OSError:
            pass

    def _loop(self) -> None:
        while True:
            with self._lock:
                client = self._client
            if client is None:
                try:
                    client, _ = self._listener.accept()
                except OSError:
                    return
                with self._lock:
                    self._client = client
            while True:
                try:
                    data = client.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self._drop(client)
                    break
                self.deliver(data)
