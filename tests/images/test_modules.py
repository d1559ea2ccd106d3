"""Kernel module lookup, dependency order, modules.dep and decompression."""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from ember.images import ImageError
from ember.images.modules import (
    ModuleTree,
    decompress_module,
    module_name,
    modules_dep,
    read_modinfo,
)

CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="needs a C compiler (make setup installs one)")


def compile_module(path: Path, depends: str, extra: str = "") -> bytes:
    """A tiny ELF object whose .modinfo looks like a kernel module's."""
    src = path.with_suffix(".c")
    src.write_text(
        'static const char l[] __attribute__((section(".modinfo"), used)) = "license=GPL";\n'
        f'static const char d[] __attribute__((section(".modinfo"), used)) = "depends={depends}";\n'
        f"{extra}\n"
    )
    obj = path.with_suffix(".o")
    subprocess.run([CC, "-c", str(src), "-o", str(obj)], check=True)
    data = obj.read_bytes()
    src.unlink()
    obj.unlink()
    return data


def make_tree(root: Path, modules: dict[str, tuple[str, str]], builtin: list[str] = ()) -> Path:
    """modules: relpath-without-suffix -> (depends, compression in '', 'xz', 'gz', 'zst')."""
    for rel, (deps, comp) in modules.items():
        path = root / "kernel" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        elf = compile_module(path, deps)
        if comp == "xz":
            path.with_name(path.name + ".ko.xz").write_bytes(lzma.compress(elf))
        elif comp == "gz":
            path.with_name(path.name + ".ko.gz").write_bytes(gzip.compress(elf))
        elif comp == "zst":
            zstd = shutil.which("zstd")
            if zstd is None:
                pytest.skip("the zstd tool is not installed (make setup)")
            out = subprocess.run([zstd, "-q", "-c"], input=elf, capture_output=True, check=True)
            path.with_name(path.name + ".ko.zst").write_bytes(out.stdout)
        else:
            path.with_name(path.name + ".ko").write_bytes(elf)
    (root / "modules.builtin").write_text("".join(f"kernel/{b}.ko\n" for b in builtin))
    return root


def test_module_name():
    assert module_name("kernel/fs/fuse/virtio-fs.ko.xz") == "virtio_fs"
    assert module_name("a.ko") == "a"
    assert module_name("x/b-c.ko.zst") == "b_c"


@needs_cc
def test_resolve_orders_dependencies_and_decompresses(tmp_path):
    tree = ModuleTree(
        make_tree(
            tmp_path,
            {
                "net/top": ("mid,leaf-x", "xz"),
                "net/mid": ("leaf-x", "zst"),
                "lib/leaf-x": ("", "gz"),
                "drivers/solo": ("", ""),
            },
            builtin=["fs/ext4/ext4"],
        )
    )
    order, builtin = tree.resolve(["top", "ext4", "solo", "mid"])
    assert [m.name for m in order] == ["leaf_x", "mid", "top", "solo"]
    assert builtin == ["ext4"]
    dep = modules_dep(order).splitlines()
    assert dep == [
        "kernel/lib/leaf-x.ko:",
        "kernel/net/mid.ko: kernel/lib/leaf-x.ko",
        "kernel/net/top.ko: kernel/net/mid.ko kernel/lib/leaf-x.ko",
        "kernel/drivers/solo.ko:",
    ]
    for m in order:
        data = decompress_module(tree.root / m.relpath)
        assert data.startswith(b"\x7fELF")
        assert read_modinfo(data)["license"] == "GPL"


@needs_cc
def test_unknown_module_suggests_close_names(tmp_path):
    tree = ModuleTree(make_tree(tmp_path, {"virtio_blk": ("", "")}))
    with pytest.raises(ImageError, match="'virtio_bk' is not in .*did you mean virtio_blk"):
        tree.resolve(["virtio_bk"])


@needs_cc
def test_missing_dependency_and_cycle(tmp_path):
    tree = ModuleTree(make_tree(tmp_path, {"a": ("b", ""), "b": ("a", ""), "c": ("gone", "")}))
    with pytest.raises(ImageError, match="cycle: a -> b -> a"):
        tree.resolve(["a"])
    with pytest.raises(ImageError, match="'gone' is not in"):
        tree.resolve(["c"])


def test_bad_module_files(tmp_path):
    (tmp_path / "kernel").mkdir()
    bad = tmp_path / "kernel" / "bad.ko.xz"
    bad.write_bytes(b"not xz")
    with pytest.raises(ImageError, match="cannot decompress"):
        decompress_module(bad)
    plain = tmp_path / "kernel" / "plain.ko"
    plain.write_bytes(b"MZ not elf")
    with pytest.raises(ImageError, match="not an ELF"):
        decompress_module(plain)
    with pytest.raises(ImageError, match="not a readable ELF"):
        read_modinfo(b"\x7fELF" + b"\xff" * 10)
    with pytest.raises(ImageError, match="not a kernel modules tree"):
        ModuleTree(tmp_path / "nowhere")


def test_real_debian_modules(debian_kernel_dir):
    tree = ModuleTree(debian_kernel_dir / "modules")
    order, builtin = tree.resolve(["vsock_loopback"])
    names = [m.name for m in order]
    assert names[-1] == "vsock_loopback"
    assert names.index("vsock") < names.index("vmw_vsock_virtio_transport_common")
    assert builtin == []
