"""struct taskstats decoding for the layouts of versions <= 14, 15 and 16 (pure)."""
from __future__ import annotations

import struct

from tracer.live.taskstats import _HEAD, _layout, decode_taskstats


def _blob(version: int, values: dict) -> bytes:
    fields = _layout(version)
    fmt = _HEAD + "".join(t for _, t in fields)
    args = [version, 0, 0, 0]
    for name, t in fields:
        if t.endswith("x"):
            continue
        args.append(values.get(name, b"" if t.endswith("s") else 0))
    return struct.pack(fmt, *args)


def test_classic_and_v16_layouts():
    for version in (13, 14, 16):
        d = decode_taskstats(_blob(version, {"cpu_delay_total": 111, "freepages_delay_total": 222,
                                             "thrashing_delay_total": 333,
                                             "compact_delay_total": 444, "ac_pid": 77,
                                             "ac_comm": b"gpu-worker"}))
        assert (d["version"], d["cpu_delay_total"], d["freepages_delay_total"],
                d["thrashing_delay_total"], d["compact_delay_total"], d["ac_pid"],
                d["ac_comm"]) == (version, 111, 222, 333, 444, 77, "gpu-worker")


def test_v15_has_max_min_after_each_total():
    d = decode_taskstats(_blob(15, {"cpu_delay_total": 5, "cpu_delay_max": 9,
                                    "freepages_delay_total": 6, "ac_comm": b"kswapd0"}))
    assert (d["cpu_delay_total"], d["cpu_delay_max"], d["freepages_delay_total"],
            d["ac_comm"]) == (5, 9, 6, "kswapd0")


def test_head_is_16_bytes_like_the_kernel_struct():
    # version u16, pad, ac_exitcode u32, ac_flag u8, ac_nice u8, pad to cpu_count (aligned 8)
    assert struct.calcsize(_HEAD) == 16


def test_short_struct_from_an_old_kernel_decodes_what_is_there():
    full = _blob(8, {"cpu_delay_total": 42, "ac_comm": b"x"})
    cut = full[:struct.calcsize(_HEAD + "".join(t for _, t in _layout(8)[:-9]))]
    d = decode_taskstats(cut)
    assert d["cpu_delay_total"] == 42 and "compact_delay_total" not in d
