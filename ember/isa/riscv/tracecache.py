"""Compiled traces kept on disk between runs of the same program.

CPython's ``compile()`` is most of what a trace costs to make (about 0.3 ms a
trace, 10 % of all the work of a glibc-heavy run), and a program run again
builds the same traces again. This store keeps their code objects, one file
per program and Python version under ``~/.cache/ember/isa/traces``, keyed by
a BLAKE2 digest of the trace's generated *source text* and file name (which
names the trace's head: fault reports map a traceback's line back through
it): the two fully determine the code object, so an entry can never be stale
(a changed program or a changed code generator yields other sources, which
simply miss).

The store is a cache and nothing else: a missing, unreadable or corrupt file
is an empty store, a failed write is logged and forgotten, and concurrent
runs replace the file atomically (the last writer wins). Set
``EMBER_ISA_TRACE_CACHE=off`` to run without it (the benchmarks do, to
measure a first run).
"""

from __future__ import annotations

import os
import sys

from ember.log import get_logger

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from types import CodeType

log = get_logger(__name__)

#: Environment switch: "off" (or "0", "no") disables the store.
ENV_SWITCH = "EMBER_ISA_TRACE_CACHE"
#: Entries kept per program: those used or made by the last run first, then
#: older ones up to this many.
MAX_ENTRIES = 20_000
#: Program files kept (the least recently written go first).
MAX_FILES = 256


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ember", "isa", "traces")


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "").lower() not in ("off", "0", "no", "false")


class TraceCache:
    """The compiled traces of one program: loaded at the first lookup, written
    back by :meth:`save` when the run made new ones."""

    def __init__(self, program: str) -> None:
        try:  # hashlib's own BLAKE2, without hashlib's ~5 ms of OpenSSL start-up
            from _blake2 import blake2b
        except ImportError:  # (another Python implementation)
            from hashlib import blake2b
        self._blake2b = blake2b
        ident = f"{sys.version}\0{os.path.abspath(program)}".encode()
        name = blake2b(ident, digest_size=12).hexdigest()
        self.path = os.path.join(cache_dir(), f"{name}.marshal")
        self._codes: dict[bytes, CodeType] | None = None
        self._used: set[bytes] = set()
        self.added = 0
        self.hits = 0

    def _key(self, source: str, filename: str) -> bytes:
        return self._blake2b(f"{filename}\0{source}".encode(), digest_size=16).digest()

    def _load(self) -> dict[bytes, CodeType]:
        import marshal

        codes: dict[bytes, CodeType] = {}
        try:
            with open(self.path, "rb") as fh:
                loaded = marshal.loads(fh.read())
            if isinstance(loaded, dict):
                codes = loaded
        except FileNotFoundError:
            pass
        except (OSError, EOFError, ValueError, TypeError) as exc:
            log.debug("ignoring the trace cache %s: %s", self.path, exc)
        return codes

    def get(self, source: str, filename: str) -> CodeType | None:
        """The code compile(source, filename, "exec") gave in an earlier run."""
        if self._codes is None:
            self._codes = self._load()
        key = self._key(source, filename)
        code = self._codes.get(key)
        if code is not None:
            self._used.add(key)
            self.hits += 1
        return code

    def put(self, source: str, filename: str, code: CodeType) -> None:
        if self._codes is None:
            self._codes = self._load()
        key = self._key(source, filename)
        self._codes[key] = code
        self._used.add(key)
        self.added += 1

    def save(self) -> None:
        """Write the store back if this run compiled traces it did not have."""
        if not self.added or self._codes is None:
            return
        import marshal

        codes = self._codes
        keep = {k: codes[k] for k in self._used}
        for key, code in codes.items():
            if len(keep) >= MAX_ENTRIES:
                break
            keep.setdefault(key, code)
        folder = os.path.dirname(self.path)
        tmp = f"{self.path}.{os.getpid()}"
        try:
            os.makedirs(folder, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(marshal.dumps(keep))
            os.replace(tmp, self.path)  # atomic: a concurrent run never reads half a file
            self.added = 0
            self._prune(folder)
        except OSError as exc:
            log.debug("cannot write the trace cache %s: %s", self.path, exc)
            try:
                os.unlink(tmp)
            except OSError:
                pass

    @staticmethod
    def _prune(folder: str) -> None:
        files = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".marshal")]
        if len(files) <= MAX_FILES:
            return
        files.sort(key=lambda p: os.stat(p).st_mtime)
        for path in files[:len(files) - MAX_FILES]:
            os.unlink(path)
