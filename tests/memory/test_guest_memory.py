import pytest
from hypothesis import given
from hypothesis import strategies as st

from ember.memory import GuestMemory, InvalidGuestAddress

MiB = 1 << 20


@pytest.fixture(scope="module")
def mem() -> GuestMemory:
    return GuestMemory([(0, 2 * MiB), (4 * MiB, 1 * MiB)])


def test_read_write_round_trip(mem: GuestMemory) -> None:
    mem.write(0x1000, b"ember")
    assert mem.read(0x1000, 5) == b"ember"
    mem.write_u64(0x2000, 0x1122334455667788)
    assert mem.read_u32(0x2000) == 0x55667788
    assert mem.read_u64(0x2000) == 0x1122334455667788


def test_view_is_zero_copy(mem: GuestMemory) -> None:
    v = mem.view(4 * MiB, 16)
    v[:4] = b"abcd"
    assert mem.read(4 * MiB, 4) == b"abcd"


@pytest.mark.parametrize("addr, length", [
    (2 * MiB, 1),            # in the hole
    (2 * MiB - 2, 4),        # straddles the end of a region
    (4 * MiB - 1, 2),        # straddles into the next region
    (5 * MiB, 1),            # past the end
    (-1, 1),
    (0, -1),
])
def test_out_of_bounds_accesses_are_refused(mem: GuestMemory, addr: int, length: int) -> None:
    with pytest.raises(InvalidGuestAddress):
        mem.read(addr, length)


@given(addr=st.integers(min_value=-(1 << 64), max_value=1 << 65), length=st.integers(min_value=-8, max_value=1 << 22))
def test_any_access_is_either_inside_one_region_or_refused(mem: GuestMemory, addr: int, length: int) -> None:
    inside = any(r.guest_addr <= addr and addr + length <= r.end for r in mem) and length >= 0 and addr >= 0
    try:
        data = mem.read(addr, length)
    except InvalidGuestAddress:
        assert not inside
    else:
        assert inside and len(data) == length


def test_regions_must_be_aligned_and_disjoint() -> None:
    with pytest.raises(ValueError):
        GuestMemory([(0, 4097)])
    with pytest.raises(ValueError):
        GuestMemory([(0, 2 * MiB), (MiB, MiB)])
