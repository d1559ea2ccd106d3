"""Listening Unix sockets for the VMM's side channels (control socket, serial console)."""

from __future__ import annotations

import os
import socket

from ember.errors import ConfigError


def listen_unix(path: str, option: str, backlog: int) -> socket.socket:
    """A socket listening at *path*; *option* names the command-line flag in error messages.

    An existing file at *path* is an error, never removed: it may be another VM's socket.
    """
    if os.path.exists(path):
        raise ConfigError(f"{option} {path} already exists: remove it or choose another path")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {option} {path}: {exc.strerror}") from None
    sock.listen(backlog)
    return sock


def close_unix(sock: socket.socket, path: str) -> None:
    """Stop listening and remove the socket file."""
    try:
        sock.close()
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
