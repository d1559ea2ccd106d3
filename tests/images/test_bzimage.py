"""The bzImage parser: the real Debian kernel, synthetic images, and malformed input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from images_factory import KERNEL_INFO_OFFSET, KERNEL_SIZE, make_bzimage, patch

from ember.arch.x86 import BootError
from ember.arch.x86.bzimage import (
    ENTRY64_OFFSET,
    FIELD_BY_NAME,
    MIN_PROTOCOL,
    SETUP_HEADER_OFFSET,
    BzImage,
    LoadFlags,
    SetupHeader,
    XLoadFlags,
)

# --- the real Debian kernel --------------------------------------------------


def test_debian_bzimage_header(debian_vmlinuz):
    image = BzImage.from_path(debian_vmlinuz)
    hdr = image.setup_header
    data = debian_vmlinuz.read_bytes()
    assert hdr.version >= MIN_PROTOCOL
    assert hdr.loadflags & LoadFlags.LOADED_HIGH
    assert hdr.xloadflags & XLoadFlags.XLF_KERNEL_64
    # The protected-mode kernel is exactly what follows the setup sectors.
    assert image.kernel_bytes == data[hdr.setup_size :]
    assert hdr.setup_size == (data[0x1F1] + 1) * 512
    assert image.load_address == struct.unpack_from("<I", data, 0x214)[0]
    assert image.entry64 == image.load_address + ENTRY64_OFFSET
    # A relocatable kernel decompresses at pref_address or above, aligned.
    assert image.runtime_start >= hdr.pref_address
    assert image.runtime_start % hdr.kernel_alignment == 0
    assert image.kernel_end >= image.runtime_start + hdr.init_size
    # The compressed payload lies inside the kernel bytes and starts with a
    # known compressor magic (gzip, xz, lz4 legacy, zstd, bzip2, lzma, lzo).
    payload = image.kernel_bytes[hdr.payload_offset : hdr.payload_offset + hdr.payload_length]
    assert len(payload) == hdr.payload_length
    magics = (
        b"\x1f\x8b",
        b"\xfd7zXZ",
        b"\x02\x21\x4c\x18",
        b"\x28\xb5\x2f\xfd",
        b"BZh",
        b"\x5d\x00",
        b"\x89LZO",
    )
    assert payload.startswith(magics), payload[:8].hex()
    # The raw copy for the zero page is the file's header up to the jump's target.
    assert hdr.raw == data[SETUP_HEADER_OFFSET : 0x202 + data[0x201]]


def test_debian_kernel_version_string(debian_vmlinuz, debian_kernel_dir):
    """kernel_version points (from 0x200) at the release string; it must name this kernel."""
    image = BzImage.from_path(debian_vmlinuz)
    data = debian_vmlinuz.read_bytes()
    at = image.setup_header.kernel_version + 0x200
    text = data[at : data.index(b"\0", at)].decode()
    assert text.split()[0] == debian_kernel_dir.resolve().name


# --- synthetic images ---------------------------------------------------------


def test_synthetic_image_roundtrip():
    data = make_bzimage()
    image = BzImage.from_bytes(data)
    hdr = image.setup_header
    assert hdr.setup_sects == 4 and hdr.setup_size == 5 * 512
    assert hdr.protocol == "2.15"
    assert len(image.kernel_bytes) == KERNEL_SIZE
    assert image.load_address == 0x100000
    assert image.entry64 == 0x100200
    assert image.runtime_start == 0x1000000
    assert image.kernel_end == 0x1000000 + 0x2000000
    assert image.cmdline_max == 2047
    assert hdr.values()["kernel_info_offset"] == KERNEL_INFO_OFFSET


def test_setup_sects_zero_means_four():
    image = BzImage.from_bytes(make_bzimage(setup_sects=0))
    assert image.setup_header.setup_size == 5 * 512


def test_non_relocatable_runs_at_pref_address():
    image = BzImage.from_bytes(make_bzimage(relocatable_kernel=0, pref_address=0x2000000))
    assert image.runtime_start == 0x2000000


def test_fields_newer_than_version_read_as_zero():
    # Protocol 2.12 has no kernel_info_offset (2.15); the bytes are ignored.
    image = BzImage.from_bytes(make_bzimage(version=0x020C, kernel_info_offset=0xDEAD))
    assert image.setup_header.kernel_info_offset == 0


def test_from_path_errors(tmp_path):
    with pytest.raises(BootError, match="does not exist"):
        BzImage.from_path(tmp_path / "nope")
    with pytest.raises(BootError, match="not a regular file"):
        BzImage.from_path(tmp_path)
    elf = tmp_path / "vmlinux"
    elf.write_bytes(b"\x7fELF" + bytes(4096))
    with pytest.raises(BootError, match="ELF file"):
        BzImage.from_path(elf)
    ok = tmp_path / "bzImage"
    ok.write_bytes(make_bzimage())
    assert BzImage.from_path(ok).name == str(ok)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"boot_flag": 0x1234}, "no x86 boot signature"),
        ({"header": 0x41414141}, "no 'HdrS' magic"),
        ({"version": 0x0206}, r"boot protocol 2\.06; ember needs 2\.12"),
        ({"version": 0x0200}, "ember needs 2.12"),
        ({"loadflags": 0}, "zImage"),
        ({"xloadflags": 0x02}, "no 64-bit entry point"),
        ({"jump": 0xE9}, "short jump"),
        ({"jump": 0xEB | (0x20 << 8)}, "header's jump ends it"),
        ({"syssize": 0}, "syssize"),
        ({"syssize": KERNEL_SIZE // 16 + 1}, "syssize"),
        ({"kernel_alignment": 0x3000}, "not a power of two"),
        ({"min_alignment": 30}, "min_alignment"),
        ({"cmdline_size": 0}, "cmdline_size is 0"),
        ({"initrd_addr_max": 0}, "initrd_addr_max is 0"),
        ({"init_size": 0}, "init_size is 0"),
        ({"code32_start": 0}, "code32_start"),
        ({"code32_start": 0xFFFFF000}, "code32_start"),
        ({"payload_length": KERNEL_SIZE}, "payload"),
        ({"handover_offset": KERNEL_SIZE}, "handover_offset"),
        ({"kernel_info_offset": KERNEL_SIZE - 2}, "kernel_info_offset"),
    ],
)
def test_malformed_header_fields(overrides, message):
    with pytest.raises(BootError, match=message):
        BzImage.from_bytes(make_bzimage(**overrides), name="bad")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"setup_sects": 255}, "truncated file or not a bzImage"),
        ({"setup_sects": 1}, "LToP"),  # kernel bytes would start inside the setup code
        ({"kernel_info_offset": 0x800}, "LToP"),
    ],
)
def test_lengths_inconsistent_with_file(fields, message):
    with pytest.raises(BootError, match=message):
        BzImage.from_bytes(patch(make_bzimage(), **fields), name="bad")


@pytest.mark.parametrize(
    "length", [0, 1, 0x1F0, 0x1FF, 0x207, 0x26B, 0x26C, 5 * 512, 5 * 512 + 0x200]
)
def test_truncated_images(length):
    with pytest.raises(BootError) as info:
        BzImage.from_bytes(make_bzimage()[:length], name="short")
    assert str(info.value).startswith("short: ")


def test_setup_header_alone_requires_version_field():
    with pytest.raises(BootError, match="too short"):
        SetupHeader.from_bytes(b"\0" * 0x207)


# --- untrusted input: never anything but a consistent image or BootError ------


def _check_consistent(data: bytes, image: BzImage) -> None:
    hdr = image.setup_header
    assert hdr.boot_flag == 0xAA55 and hdr.header == 0x53726448
    assert hdr.version >= MIN_PROTOCOL
    assert hdr.setup_size + len(image.kernel_bytes) == len(data)
    assert 0 < hdr.syssize * 16 <= len(image.kernel_bytes)
    assert image.kernel_bytes == data[hdr.setup_size :]
    assert hdr.cmdline_size > 0 and hdr.init_size > 0
    assert image.kernel_end > image.load_address
    assert hdr.raw == data[SETUP_HEADER_OFFSET : SETUP_HEADER_OFFSET + len(hdr.raw)]
    for name, value in hdr.values().items():
        f = FIELD_BY_NAME[name]
        assert 0 <= value < 1 << (8 * f.size)


def _parse(data: bytes) -> None:
    try:
        image = BzImage.from_bytes(data)
    except BootError as exc:
        assert str(exc)  # a message, never an empty error
        return
    _check_consistent(data, image)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_garbage_never_crashes(data):
    _parse(data)


_BASE = make_bzimage()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0x1F1, 0x26B), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, len(_BASE)),
)
def test_mutated_header_never_crashes(mutations, length):
    data = bytearray(_BASE)
    for offset, value in mutations:
        data[offset] = value
    _parse(bytes(data[:length]))


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            name: st.integers(0, (1 << (8 * FIELD_BY_NAME[name].size)) - 1)
            for name in (
                "setup_sects",
                "syssize",
                "version",
                "loadflags",
                "code32_start",
                "kernel_alignment",
                "relocatable_kernel",
                "min_alignment",
                "xloadflags",
                "cmdline_size",
                "payload_offset",
                "payload_length",
                "pref_address",
                "init_size",
                "handover_offset",
                "kernel_info_offset",
            )
        },
    )
)
def test_random_field_values_never_crash(overrides):
    _parse(make_bzimage(**overrides))
