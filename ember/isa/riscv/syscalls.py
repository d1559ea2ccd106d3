"""Linux system calls of a static glibc program, mapped onto the host.

The guest uses the host process's file descriptors directly (fd 1 of the guest
is ember's stdout). Calls that only matter to threaded or signal-handling
programs are honest no-ops for a single-threaded guest that installs no
handlers; anything unknown returns -ENOSYS and is logged, as a kernel without
that call would do.
"""

from __future__ import annotations

import errno
import os
import struct
import time

from ember.isa.riscv.errors import GuestExit, GuestFault
from ember.isa.riscv.memory import PAGE, page_up
from ember.log import get_logger

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Callable

    from ember.isa.riscv.machine import Machine

log = get_logger(__name__)

MASK64 = (1 << 64) - 1
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
MAP_FIXED, MAP_ANONYMOUS = 0x10, 0x20
PROT_EXEC = 4
TCGETS = 0x5401
DT_UNKNOWN, DT_DIR, DT_REG, DT_LNK = 0, 4, 8, 10
RLIM_INFINITY = MASK64
#: struct stat of the asm-generic ABI RISC-V uses (128 bytes).
STAT = struct.Struct("<QQIIIIQQqiiqqQqQqQII")
TIMESPEC = struct.Struct("<qQ")
IOVEC = struct.Struct("<QQ")
#: The open(2) flags whose values are the same on RISC-V and the x86-64 host.
OPEN_FLAGS = 0o3 | 0o100 | 0o200 | 0o400 | 0o1000 | 0o2000 | 0o4000 | 0o200000 | 0o400000 | 0o2000000
#: The kernel release reported by uname (glibc refuses kernels that look too old).
UNAME_RELEASE = "6.1.0-ember"


def _signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


class Syscalls:
    """Dispatch table from RISC-V Linux syscall numbers to host implementations."""

    def __init__(self, machine: Machine, exe_path: str) -> None:
        self.m = machine
        self.space = machine.space
        self.exe_path = os.path.abspath(exe_path)
        self.table: dict[int, Callable[..., int]] = {
            17: self.getcwd, 23: self.dup, 25: self.fcntl, 29: self.ioctl,
            34: self.mkdirat, 35: self.unlinkat, 46: self.ftruncate, 48: self.faccessat,
            61: self.getdents64, 115: self.clock_nanosleep, 56: self.openat, 57: self.close, 62: self.lseek,
            63: self.read, 64: self.write, 65: self.readv, 66: self.writev,
            67: self.pread64, 78: self.readlinkat, 79: self.newfstatat, 80: self.fstat,
            93: self.exit, 94: self.exit, 96: self.set_tid_address, 98: self.futex,
            99: self.zero, 101: self.nanosleep, 113: self.clock_gettime,
            124: self.zero, 129: self.kill, 131: self.tgkill, 134: self.rt_sigaction,
            135: self.rt_sigprocmask, 160: self.uname, 163: self.getrlimit,
            169: self.gettimeofday, 179: self.sysinfo, 172: self.getpid, 173: self.getppid, 174: self.getuid,
            175: self.getuid, 176: self.getgid, 177: self.getgid, 178: self.getpid,
            214: self.brk, 215: self.munmap, 216: self.mremap, 222: self.mmap,
            226: self.mprotect, 233: self.zero, 259: self.flush_icache,
            261: self.prlimit64, 278: self.getrandom,
        }
        self.counts: dict[int, int] = {}
        #: directory fd -> entries not yet returned by getdents64
        self.dir_entries: dict[int, list[bytes]] = {}

    def __call__(self) -> None:
        """Perform the call described by a7 and a0..a5; the result goes to a0."""
        x = self.m.x
        number = x[17]
        self.counts[number] = self.counts.get(number, 0) + 1
        handler = self.table.get(number)
        if handler is None:
            log.warning("unimplemented syscall %d (returning -ENOSYS)", number)
            result = -errno.ENOSYS
        else:
            try:
                result = handler(x[10], x[11], x[12], x[13], x[14], x[15])
            except OSError as exc:
                result = -(exc.errno or errno.EIO)
            except GuestFault:
                result = -errno.EFAULT
        x[10] = result & MASK64

    # -- helpers ----------------------------------------------------------
    def _path(self, addr: int) -> str:
        return os.fsdecode(self.space.cstring(addr))

    @staticmethod
    def _dirfd(fd: int) -> int | None:
        fd = _signed(fd)
        return None if fd == AT_FDCWD else fd

    def _put_stat(self, addr: int, st: os.stat_result) -> int:
        self.store(addr, STAT.pack(
            st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
            st.st_rdev, 0, st.st_size, st.st_blksize, 0, st.st_blocks,
            int(st.st_atime), st.st_atime_ns % 10**9, int(st.st_mtime), st.st_mtime_ns % 10**9,
            int(st.st_ctime), st.st_ctime_ns % 10**9, 0, 0))
        return 0

    def store(self, addr: int, data: bytes) -> None:
        """Write guest memory for a system call (bounds-checked); a write into
        code invalidates it, as a store instruction would."""
        self.space.write(addr, data)
        self.m.code_changed(addr, addr + len(data))

    # -- files ---------------------------------------------------------------
    def read(self, fd: int, buf: int, count: int, *_: int) -> int:
        self.space.check(buf, count)
        data = os.read(fd, count)
        self.store(buf, data)
        return len(data)

    def pread64(self, fd: int, buf: int, count: int, off: int, *_: int) -> int:
        self.space.check(buf, count)
        data = os.pread(fd, count, off)
        self.store(buf, data)
        return len(data)

    def write(self, fd: int, buf: int, count: int, *_: int) -> int:
        return os.write(fd, self.space.read(buf, count))

    def _iov(self, iov: int, n: int) -> list[tuple[int, int]]:
        if n > 1024:
            return []
        return [IOVEC.unpack(self.space.read(iov + 16 * i, 16)) for i in range(n)]

    def writev(self, fd: int, iov: int, n: int, *_: int) -> int:
        if n > 1024:
            return -errno.EINVAL
        data = b"".join(self.space.read(base, length) for base, length in self._iov(iov, n))
        return os.write(fd, data)

    def readv(self, fd: int, iov: int, n: int, *_: int) -> int:
        if n > 1024:
            return -errno.EINVAL
        total = 0
        for base, length in self._iov(iov, n):
            data = self.read(fd, base, length)
            total += data
            if data < length:
                break
        return total

    def openat(self, dirfd: int, path: int, flags: int, mode: int, *_: int) -> int:
        return os.open(self._path(path), flags & OPEN_FLAGS, mode & 0o7777,
                       dir_fd=self._dirfd(dirfd))

    def close(self, fd: int, *_: int) -> int:
        self.dir_entries.pop(fd, None)
        if fd <= 2:  # never close ember's own stdio under the host process
            return 0
        os.close(fd)
        return 0

    def lseek(self, fd: int, off: int, whence: int, *_: int) -> int:
        return os.lseek(fd, _signed(off), whence)

    def dup(self, fd: int, *_: int) -> int:
        return os.dup(fd)

    def fcntl(self, fd: int, cmd: int, arg: int, *_: int) -> int:
        import fcntl

        if cmd in (1, 3):  # F_GETFD, F_GETFL
            return fcntl.fcntl(fd, cmd)
        return 0

    def ioctl(self, fd: int, request: int, arg: int, *_: int) -> int:
        if request == TCGETS:
            if not os.isatty(fd):
                return -errno.ENOTTY
            self.store(arg, bytes(36))
            return 0
        return -errno.ENOTTY

    def mkdirat(self, dirfd: int, path: int, mode: int, *_: int) -> int:
        os.mkdir(self._path(path), mode & 0o7777, dir_fd=self._dirfd(dirfd))
        return 0

    def unlinkat(self, dirfd: int, path: int, flags: int, *_: int) -> int:
        at_removedir = 0x200
        if flags & at_removedir:
            os.rmdir(self._path(path), dir_fd=self._dirfd(dirfd))
        else:
            os.unlink(self._path(path), dir_fd=self._dirfd(dirfd))
        return 0

    def ftruncate(self, fd: int, length: int, *_: int) -> int:
        os.ftruncate(fd, length)
        return 0

    def getdents64(self, fd: int, buf: int, count: int, *_: int) -> int:
        """struct linux_dirent64 records; the listing is taken once per open fd
        (at the first call) from the host, "." and ".." first."""
        pending = self.dir_entries.get(fd)
        if pending is None:
            host = os.fstat(fd)
            parent = os.stat(f"/proc/self/fd/{fd}/..")
            # glibc skips records with inode 0, so ".." needs its real one.
            names = [(".", host.st_ino, DT_DIR), ("..", parent.st_ino, DT_DIR)]
            with os.scandir(f"/proc/self/fd/{fd}") as it:
                for entry in it:
                    kind = DT_DIR if entry.is_dir(follow_symlinks=False) else (
                        DT_LNK if entry.is_symlink() else DT_REG if entry.is_file(follow_symlinks=False)
                        else DT_UNKNOWN)
                    names.append((entry.name, entry.inode(), kind))
            pending = []
            for index, (name, ino, kind) in enumerate(names, 1):
                raw = os.fsencode(name) + b"\0"
                reclen = (19 + len(raw) + 7) & ~7
                pending.append(struct.pack("<QqHB", ino, index, reclen, kind) + raw.ljust(reclen - 19, b"\0"))
            self.dir_entries[fd] = pending
        out = bytearray()
        while pending and len(out) + len(pending[0]) <= count:
            out += pending.pop(0)
        if pending and not out:
            return -errno.EINVAL  # buffer too small for the next record
        self.store(buf, bytes(out))
        return len(out)

    def faccessat(self, dirfd: int, path: int, mode: int, *_: int) -> int:
        ok = os.access(self._path(path), mode, dir_fd=self._dirfd(dirfd))
        return 0 if ok else -errno.EACCES

    def newfstatat(self, dirfd: int, path: int, buf: int, flags: int, *_: int) -> int:
        name = self._path(path)
        if not name and flags & AT_EMPTY_PATH:
            return self._put_stat(buf, os.fstat(_signed(dirfd)))
        st = os.stat(name, dir_fd=self._dirfd(dirfd),
                     follow_symlinks=not flags & AT_SYMLINK_NOFOLLOW)
        return self._put_stat(buf, st)

    def fstat(self, fd: int, buf: int, *_: int) -> int:
        return self._put_stat(buf, os.fstat(fd))

    def readlinkat(self, dirfd: int, path: int, buf: int, size: int, *_: int) -> int:
        name = self._path(path)
        target = self.exe_path if name == "/proc/self/exe" else os.readlink(name, dir_fd=self._dirfd(dirfd))
        data = os.fsencode(target)[:size]
        self.store(buf, data)
        return len(data)

    def getcwd(self, buf: int, size: int, *_: int) -> int:
        data = os.fsencode(os.getcwd()) + b"\0"
        if len(data) > size:
            return -errno.ERANGE
        self.store(buf, data)
        return len(data)

    # -- memory ------------------------------------------------------------------
    def brk(self, addr: int, *_: int) -> int:
        return self.space.set_brk(addr)

    def mmap(self, addr: int, length: int, prot: int, flags: int, fd: int, off: int) -> int:
        if length == 0 or length > self.space.size:
            return -errno.EINVAL
        if flags & MAP_FIXED:
            if addr & (PAGE - 1) or addr + length > self.space.size or addr < 0x10000:
                return -errno.EINVAL
            self.space.zero(addr, length)
            self.m.code_changed(addr, addr + length)  # a new mapping over code replaces it
            where = addr
        else:
            found = self.space.map_anywhere(length)
            if found is None:
                return -errno.ENOMEM
            where = found
        if not flags & MAP_ANONYMOUS:
            data = os.pread(_signed(fd), length, off)
            self.store(where, data)
        if prot & PROT_EXEC:
            self.space.add_exec(where, where + page_up(length))
        return where

    def munmap(self, addr: int, length: int, *_: int) -> int:
        if addr & (PAGE - 1):
            return -errno.EINVAL
        self.space.unmap(addr, length)
        self.m.code_changed(addr, addr + length)
        return 0

    def mremap(self, *_: int) -> int:
        return -errno.ENOMEM  # glibc's realloc then falls back to malloc+copy+free

    def mprotect(self, addr: int, length: int, prot: int, *_: int) -> int:
        self.space.remove_exec(addr, addr + page_up(length))
        if prot & PROT_EXEC:
            self.space.add_exec(addr, addr + page_up(length))
        return 0

    def flush_icache(self, start: int, end: int, *_: int) -> int:
        # Every store into a page of decoded code already invalidated it (the
        # engines check each store); the range is invalidated once more for
        # writes that bypassed that check.
        if start < end:
            self.m.code_changed(start, min(end, self.space.size))
        return 0

    # -- process ---------------------------------------------------------------
    def exit(self, status: int, *_: int) -> int:
        raise GuestExit(status & 0xFF)

    def kill(self, pid: int, sig: int, *_: int) -> int:
        return self.tgkill(pid, pid, sig)

    def tgkill(self, _tgid: int, tid: int, sig: int, *_: int) -> int:
        if sig == 0:
            return 0
        # No handlers are ever installed, so every fatal signal kills the guest:
        # report it like a shell does for a process killed by a signal.
        log.info("guest sent itself signal %d; terminating", sig)
        raise GuestExit(128 + (sig & 0x7F))

    def set_tid_address(self, *_: int) -> int:
        return os.getpid()

    def getpid(self, *_: int) -> int:
        return os.getpid()

    def getppid(self, *_: int) -> int:
        return os.getppid()

    def getuid(self, *_: int) -> int:
        return os.getuid()

    def getgid(self, *_: int) -> int:
        return os.getgid()

    def futex(self, addr: int, op: int, *_: int) -> int:
        # One thread: nobody to wake, and a wait would wait forever.
        return 0 if op & 0x7F == 1 else -errno.EAGAIN

    def rt_sigaction(self, sig: int, act: int, oldact: int, *_: int) -> int:
        if oldact:
            self.store(oldact, bytes(32))  # "no handler was installed"
        return 0

    def rt_sigprocmask(self, how: int, nset: int, oset: int, size: int, *_: int) -> int:
        if oset:
            self.store(oset, bytes(min(size, 128)))
        return 0

    def zero(self, *_: int) -> int:
        return 0

    def uname(self, buf: int, *_: int) -> int:
        import platform

        fields = ("Linux", platform.node() or "ember", UNAME_RELEASE, "#1 ember", "riscv64", "(none)")
        self.store(buf, b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields))
        return 0

    def getrlimit(self, resource: int, old: int, *_: int) -> int:
        return self.prlimit64(0, resource, 0, old)

    def prlimit64(self, _pid: int, resource: int, new: int, old: int, *_: int) -> int:
        if old:
            stack = 3
            value = (8 << 20, RLIM_INFINITY) if resource == stack else (RLIM_INFINITY, RLIM_INFINITY)
            self.store(old, struct.pack("<QQ", *value))
        return 0

    # -- time and randomness ---------------------------------------------------------
    def sysinfo(self, buf: int, *_: int) -> int:
        """struct sysinfo: uptime, loads, RAM figures of the guest's address space."""
        total = self.space.size
        free = max(0, self.space.mmap_low - self.space.brk)
        info = struct.pack("<q3Q6QHH4xQQI", int(time.monotonic()), 0, 0, 0, total, free, 0, 0,
                           0, 0, 1, 0, 0, 0, 1)
        self.store(buf, info.ljust(112, b"\0"))
        return 0

    def clock_gettime(self, clock: int, tp: int, *_: int) -> int:
        ns = time.clock_gettime_ns(clock)
        self.store(tp, TIMESPEC.pack(ns // 10**9, ns % 10**9))
        return 0

    def gettimeofday(self, tv: int, tz: int, *_: int) -> int:
        if tv:
            ns = time.time_ns()
            self.store(tv, struct.pack("<qq", ns // 10**9, ns // 1000 % 10**6))
        return 0

    def clock_nanosleep(self, _clock: int, flags: int, req: int, *_: int) -> int:
        if flags:  # TIMER_ABSTIME: not needed by static glibc's sleep()
            return -errno.EINVAL
        return self.nanosleep(req)

    def nanosleep(self, req: int, *_: int) -> int:
        sec, nsec = TIMESPEC.unpack(self.space.read(req, 16))
        time.sleep(min(sec + nsec / 1e9, 10.0))
        return 0

    def getrandom(self, buf: int, length: int, *_: int) -> int:
        length = min(length, 1 << 20)
        self.store(buf, os.urandom(length))
        return length
