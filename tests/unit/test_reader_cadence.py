"""The live reader's drain cadence: poll_ms, or sooner when a flood would fill the buffer."""
from __future__ import annotations

from tracer.sources.bcc_source import BUFFER_BYTES, MIN_POLL_MS, next_wait_ms


def test_idle_or_slow_sources_wait_the_full_poll():
    assert next_wait_ms(0, 0.2, 200) == 200
    assert next_wait_ms(1000, 0.0, 200) == 200
    # 1 MB/s: a quarter of 4 MiB takes ~1 s to fill, longer than poll_ms
    assert next_wait_ms(200_000, 0.2, 200) == 200


def test_a_flood_is_drained_before_a_quarter_of_the_buffer_fills():
    # 48 MB/s (a 300k events/s lock:contention flood of 160-byte records)
    got, elapsed = 9_600_000, 0.2
    assert next_wait_ms(got, elapsed, 200) == int(1000 * (BUFFER_BYTES / 4) / (got / elapsed))
    assert next_wait_ms(got, elapsed, 200) == 21


def test_never_sooner_than_the_minimum():
    assert next_wait_ms(10**12, 0.001, 200) == MIN_POLL_MS


def test_a_smaller_buffer_is_drained_sooner():
    got, elapsed = 9_600_000, 0.2                     # 48 MB/s
    assert next_wait_ms(got, elapsed, 200, 1 << 20) == 5   # a quarter of 1 MiB: 5.5 ms


def test_buffer_mib_must_be_a_power_of_two():
    import argparse

    import pytest

    from tracer.commands.record import buffer_mib
    assert buffer_mib("64") == 64 and buffer_mib("1") == 1 and buffer_mib("1024") == 1024
    for bad, why in (("3", "power of two"), ("0", "power of two"), ("2048", "power of two"),
                     ("x", "not a whole number")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            buffer_mib(bad)
