"""Fuzzing the readers of untrusted files: recordings and bundles.

Random bytes, truncations and bit flips of valid files may only ever raise GemscopeError (one
line), never another exception, and never hang (each example has a deadline)."""
from __future__ import annotations

import functools
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle_fixture import write_lifecycle
from tracer.bundle import open_and_verify, open_input
from tracer.bundle.writer import create_bundle
from tracer.errors import GemscopeError
from tracer.frames import load_frames
from tracer.recording import open_recording

FUZZ = settings(max_examples=int(os.environ.get("GEMSCOPE_FUZZ_EXAMPLES", "150")),
                deadline=10_000, derandomize=os.environ.get("GEMSCOPE_FUZZ_RANDOM") != "1",
                database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

_DIR = tempfile.mkdtemp(prefix="gemscope-fuzz-")
RECORDING = open(write_lifecycle(os.path.join(_DIR, "fx.gsrec")), "rb").read()
_BUNDLE_PATH = os.path.join(_DIR, "fx.gsbundle")


@functools.lru_cache(maxsize=1)
def bundle_bytes() -> bytes:
    """A valid bundle (made once, on first use: it runs the analyses)."""
    create_bundle(os.path.join(_DIR, "fx.gsrec"), _BUNDLE_PATH)
    return open(_BUNDLE_PATH, "rb").read()


def mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for pos, bit in flips:
        buf[pos % len(buf)] ^= 1 << bit
    return bytes(buf[:cut] if cut is not None else buf)


def read_recording_fully(path: str) -> None:
    """Everything a command does with a recording: summary, metadata, frames."""
    with open_recording(path) as rec:
        rec.summary()
    frames = load_frames(path)
    for df in frames.by_kind.values():
        len(df)


def check_recording(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="gemscope-fuzz-") as tmp:
        path = os.path.join(tmp, "x.gsrec")
        with open(path, "wb") as f:
            f.write(data)
        try:
            read_recording_fully(path)
        except GemscopeError as e:
            assert "\n" not in str(e)


def check_bundle(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="gemscope-fuzz-") as tmp:
        path = os.path.join(tmp, "x.gsbundle")
        with open(path, "wb") as f:
            f.write(data)
        dest = os.path.join(tmp, "dest")
        os.mkdir(dest)
        try:
            open_and_verify(path, dest)
            with open_input(path) as rec:
                read_recording_fully(rec)
        except GemscopeError as e:
            assert "\n" not in str(e)
        assert set(os.listdir(tmp)) <= {"x.gsbundle", "dest"}   # nothing written beside


flips = st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 7)), max_size=8)


@FUZZ
@given(st.binary(max_size=4096))
def test_recording_random_bytes(data):
    check_recording(data)


@FUZZ
@given(st.binary(max_size=64))
def test_recording_arrow_prefix_then_garbage(tail):
    check_recording(RECORDING[:8] + tail)


@FUZZ
@given(flips, st.one_of(st.none(), st.integers(0, len(RECORDING))))
def test_recording_bit_flips_and_truncations(fl, cut):
    check_recording(mutate(RECORDING, fl, cut))


@FUZZ
@given(st.binary(max_size=4096))
def test_bundle_random_bytes(data):
    check_bundle(b"PK\x03\x04" + data)


@FUZZ
@given(flips, st.one_of(st.none(), st.integers(0, 1 << 30)))
def test_bundle_bit_flips_and_truncations(fl, cut):
    data = bundle_bytes()
    check_bundle(mutate(data, fl, None if cut is None else cut % (len(data) + 1)))


@FUZZ
@given(st.integers(0, 1 << 30), st.binary(min_size=1, max_size=16))
def test_bundle_overwritten_bytes(pos, patch):
    data = bundle_bytes()
    pos %= len(data)
    check_bundle(data[:pos] + patch + data[pos + len(patch):])


def test_fixtures_are_valid():
    check_recording(RECORDING)
    bundle_bytes()
    assert open_and_verify(_BUNDLE_PATH).manifest["events"] == 24
    with pytest.raises(GemscopeError):
        check_recording_strict(b"garbage")


def check_recording_strict(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.gsrec")
        open(path, "wb").write(data)
        read_recording_fully(path)
