"""A control socket for a running VM: pause, resume, statistics, registers, address translation.

One request per line, one JSON object per reply (``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``). The server thread only parses and calls the
VM's own thread-safe methods; vCPU state is read while the VM is paused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

from ember.errors import ConfigError, EmberError
from ember.vmm.errors import VmError
from ember.vmm.unix_socket import close_unix, listen_unix
from ember.vmm.vm import VmState

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ember.vmm.vm import Vm

log = logging.getLogger(__name__)
MAX_REQUEST = 4096


@contextlib.contextmanager
def paused(vm: Vm) -> Iterator[None]:
    """Pause the VM (if running) for the duration of a look at vCPU state, then resume it."""
    with vm.inspect_lock:
        was_running = vm.state is VmState.RUNNING
        if was_running:
            vm.pause()
        elif vm.state is not VmState.PAUSED:
            raise VmError(f"the VM is {vm.state.value}: nothing to inspect")
        try:
            yield
        finally:
            if was_running:
                vm.resume()


class ControlServer:
    def __init__(self, vm: Vm, path: str) -> None:
        self.vm, self.path = vm, path
        self.sock = listen_unix(path, "--control", backlog=4)
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        close_unix(self.sock, self.path)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            while True:
                line = f.readline(MAX_REQUEST + 1)
                if not line:
                    return
                if len(line) > MAX_REQUEST:
                    reply: dict[str, Any] = {"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"}
                else:
                    reply = self.handle(line)
                f.write(json.dumps(reply).encode() + b"\n")
                f.flush()

    def handle(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
            if not isinstance(req, dict) or not isinstance(req.get("op"), str):
                raise ConfigError('a request is a JSON object with an "op" string')
            op = req["op"]
            fn = getattr(self, f"op_{op.replace('-', '_')}", None)
            if fn is None:
                raise ConfigError(f"unknown op {op!r}; ops: pause, resume, stats, regs, translate, state")
            return {"ok": True, **fn(req)}
        except json.JSONDecodeError as exc:
            return {"ok": False, "error": f"request is not JSON: {exc}"}
        except EmberError as exc:
            return {"ok": False, "error": str(exc)}

    # --- operations -------------------------------------------------------------------

    def op_state(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"state": self.vm.state.value, "vcpus": len(self.vm.vcpus), "memory": self.vm.config.memory}

    def op_pause(self, req: dict[str, Any]) -> dict[str, Any]:
        self.vm.pause()
        return {"state": self.vm.state.value}

    def op_resume(self, req: dict[str, Any]) -> dict[str, Any]:
        self.vm.resume()
        return {"state": self.vm.state.value}

    def op_stats(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"stats": self.vm.stats().to_dict()}

    def _vcpu_index(self, req: dict[str, Any]) -> int:
        idx = req.get("vcpu", 0)
        if not isinstance(idx, int) or not 0 <= idx < len(self.vm.vcpus):
            raise ConfigError(f"vcpu {idx!r} does not exist (the VM has {len(self.vm.vcpus)})")
        return idx

    def op_regs(self, req: dict[str, Any]) -> dict[str, Any]:
        from ember.vmm.inspect import vcpu_registers

        idx = self._vcpu_index(req)
        with paused(self.vm):
            return {"vcpu": idx, "regs": vcpu_registers(self.vm.vcpus[idx].fd)}

    def op_translate(self, req: dict[str, Any]) -> dict[str, Any]:
        from ember.vmm.inspect import translate_on_vcpu

        idx = self._vcpu_index(req)
        gva = req.get("gva")
        if not isinstance(gva, int) or not 0 <= gva < 1 << 64:
            raise ConfigError(f"gva {gva!r} is not a 64-bit address")
        with paused(self.vm):
            return translate_on_vcpu(self.vm, idx, gva)
