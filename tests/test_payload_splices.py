"""The payload file's splices: whatever a payload shares with the one before it, it reads
back byte for byte, in this session and in the next (nothing remembered)."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_billing.store import payloads
from tui_billing.store.payloads import Encoded, PayloadFile


def _shared_head_slowly(one: bytes, other: bytes) -> int:
    count = 0
    while count < min(len(one), len(other)) and one[count] == other[count]:
        count += 1
    return count


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_the_shared_ends_are_the_longest_shared(one: bytes, other: bytes) -> None:
    head = payloads._shared_head(one, other)
    assert head == _shared_head_slowly(one, other)
    most = min(len(one), len(other)) - head
    tail = payloads._shared_tail(one, other, most)
    assert tail == min(most, _shared_head_slowly(one[::-1], other[::-1]))


texts = st.text(alphabet='ab{}":,é', max_size=200).map(str.encode)


def _assert_read_back(
    path: Path, written: PayloadFile, addresses: list[list[int]], raws: list[bytes]
) -> None:
    """Each payload reads back as written: from the file that wrote it, then (in the
    other order) from the file opened afresh."""
    assert [written._raw(address, payloads.MAX_DEPTH + 1) for address in addresses] == raws
    written.close()
    fresh = PayloadFile(path)
    try:
        assert [fresh._raw(address, payloads.MAX_DEPTH + 1) for address in reversed(addresses)] == raws[::-1]
    finally:
        fresh.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(texts, min_size=1, max_size=8))
def test_a_chain_of_payloads_reads_back_byte_for_byte(
    tmp_path_factory: pytest.TempPathFactory, raws: list[bytes]
) -> None:
    path = tmp_path_factory.mktemp("payloads") / "p"
    written = PayloadFile(path)
    addresses = [written.put(Encoded({}, raw), "invoice/type", "type") for raw in raws]
    _assert_read_back(path, written, addresses, raws)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(texts, st.integers(0, 2)), min_size=1, max_size=8),
    st.lists(texts, min_size=3, max_size=3),
)
def test_a_chain_of_payloads_sharing_their_last_parts_reads_back_byte_for_byte(
    tmp_path_factory: pytest.TempPathFactory, fronts: list[tuple[bytes, int]], rests: list[bytes]
) -> None:
    """Payloads given in parts (as rendered invoices are), consecutive ones often with the
    same last part object: only the parts before it are compared."""
    path = tmp_path_factory.mktemp("payloads") / "p"
    written = PayloadFile(path)
    addresses = [
        written.put(Encoded({}, front, rests[pick]), "invoice/type", "type") for front, pick in fronts
    ]
    raws = [front + rests[pick] for front, pick in fronts]
    _assert_read_back(path, written, addresses, raws)


def test_a_step_s_payload_is_stored_as_a_small_splice(tmp_path: Path) -> None:
    """Two payloads that differ near the start: the second keeps the rest of the first."""
    rest = ',"lines":[' + ",".join(f'{{"id":"line-{n}","amount":"{n}.00"}}' for n in range(60)) + "]}"
    first = {"status": "draft.collecting", "updatedAt": "2026-01-01T10:00:00.000Z"}
    second = {"status": "draft.validating", "updatedAt": "2026-01-01T11:00:00.000Z"}
    file = PayloadFile(tmp_path / "p")
    try:
        file.put(Encoded(first, (str(first)[:-1] + rest).encode()), "i/t", "t")
        address = file.put(Encoded(second, (str(second)[:-1] + rest).encode()), "i/t", "t")
        stored = file.read(address)
        assert stored[:1] == payloads.SPLICE
        assert len(stored) < 80 < len(rest)
    finally:
        file.close()


def test_a_damaged_splice_is_refused_not_misread(tmp_path: Path) -> None:
    file = PayloadFile(tmp_path / "p")
    try:
        base = file.put(Encoded({}, b'{"a":1}'), "i/t", "t")
        bad = payloads.SPLICE + payloads.BASE.pack(*base) + payloads.SPAN.pack(5, 5)
        with pytest.raises(ValueError, match="keeps more"):
            file._raw(file.append(bad + payloads._deflate(b"", b"")), payloads.MAX_DEPTH + 1)
        with pytest.raises(ValueError, match="cut short"):
            file._raw(file.append(payloads.SPLICE + b"short"), payloads.MAX_DEPTH + 1)
    finally:
        file.close()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(texts, st.sampled_from([b"", b',"rest":1}', b',"rest":2}'])), min_size=1, max_size=8)
)
def test_payloads_given_in_parts_read_back_joined(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[tuple[bytes, bytes]]
) -> None:
    """A last part shared with the payload before (the same object) is known to be shared."""
    path = tmp_path_factory.mktemp("payloads") / "p"
    written = PayloadFile(path)
    try:
        addresses = [written.put(Encoded({}, head, rest), "invoice/type", "type") for head, rest in pieces]
    finally:
        written.close()
    fresh = PayloadFile(path)
    try:
        read = [fresh._raw(address, payloads.MAX_DEPTH + 1) for address in addresses]
        assert read == [head + rest for head, rest in pieces]
    finally:
        fresh.close()
