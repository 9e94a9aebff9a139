"""Fence-wait timeouts arrive in jiffies: ns with the traced kernel's HZ, null without it, on
every path (live decode, raw recordings, tracefs kprobes); never a jiffy count under `_ns`."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd

from probes import events as ev
from tracer import jiffies, raw_records
from tracer.frames import load_frames
from tracer.ftrace.mapping import map_trace
from tracer.ftrace.text import parse_text
from tracer.live.decode import Decoder
from tracer.recording import RecordingWriter

FOREVER = jiffies.MAX_SCHEDULE_TIMEOUT


def test_hz_from_a_kernel_config():
    assert jiffies.hz_from_config(b"# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\n"
                                  b"CONFIG_HZ=250\nCONFIG_HZ_PERIODIC=n\n") == 250
    assert jiffies.hz_from_config(b"CONFIG_HZ_1000=y\nCONFIG_HZ=1000\n") == 1000
    assert jiffies.hz_from_config(b"CONFIG_HZ=0\n") is None          # not a plausible HZ
    assert jiffies.hz_from_config(b"CONFIG_HZ_PERIODIC=y\n") is None
    assert [jiffies.valid_hz(v) for v in (250, "250", True, 10**6, 300)] == \
        [250, None, None, None, 300]


def test_kernel_hz_reads_proc_config_gz_first(tmp_path, monkeypatch):
    gz = tmp_path / "config.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b"CONFIG_HZ=300\n")
    real_open = gzip.open
    monkeypatch.setattr(jiffies.gzip, "open",
                        lambda p, m: real_open(gz if p == "/proc/config.gz" else p, m))
    assert jiffies.kernel_hz("no-such-release") == 300


def test_jiffies_to_ns_exact():
    ns, ok = jiffies.jiffies_to_ns(np.array([10, 0, 1, -1, FOREVER, 3]), 250)
    assert ns[ok].tolist() == [40_000_000, 0, 4_000_000, 12_000_000]
    assert ok.tolist() == [True, True, True, False, False, True]
    ns, ok = jiffies.jiffies_to_ns(np.array([1, 3]), 300)               # 1e9 / 300 is not whole
    assert ns.tolist() == [3_333_333, 10_000_000] and ok.all()
    _, ok = jiffies.jiffies_to_ns(np.array([10]), None)
    assert not ok.any()


def _fence_waits() -> bytes:
    return ev.pack(3, ts_ns=[1, 2, 3], type=ev.TYPE_OF["fence_wait"], a0=0x10,
                   a1=np.array([10, FOREVER, 1], np.int64).view(np.uint64), duration_ns=5)


def test_live_decoder_converts_with_hz_only():
    with_hz = Decoder(hz=250).decode(_fence_waits())["fence_wait"]["timeout_ns"]
    assert with_hz.to_pylist() == [40_000_000, None, 4_000_000]
    without = Decoder().decode(_fence_waits())["fence_wait"]["timeout_ns"]
    assert without.to_pylist() == [None, None, None]


def test_raw_recording_uses_the_recorded_kernel_hz(tmp_path):
    for hz, want in ((1000, [10_000_000, None, 1_000_000]), (None, [None, None, None])):
        path = tmp_path / f"r{hz}.gsrec"
        with RecordingWriter(path, {"source": "test", "kernel_hz": hz}) as w:
            w.append_raw(1, _fence_waits(), raw_records.context_json(ev.EVENT_SIZE, 0, {}))
        got = load_frames(path)["fence_wait"]["timeout_ns"]
        assert [None if pd.isna(x) else x for x in got] == want


def test_tracefs_kprobe_timeouts():
    text = (b"   kswapd0-50    [000] .....  10.000000: wait: (dma_resv_wait_timeout+0x0/0x1)"
            b" resv=0xffff1 tmo=10\n"
            b"   kswapd0-50    [000] .....  10.000100: wait_r: (shrink+0x4/0x9 <- "
            b"dma_resv_wait_timeout) ret=1\n")
    trace = parse_text(text)
    assert map_trace(trace).kinds["fence_wait"]["timeout_ns"].to_pylist() == [None]   # import
    trace = parse_text(text)
    trace.meta["kernel_hz"] = 250                                      # the live source
    m = map_trace(trace)
    assert m.kinds["fence_wait"]["timeout_ns"].to_pylist() == [40_000_000]
    assert m.kinds["fence_wait"]["duration_ns"].tolist() == [100_000]


def test_measured_hz_snaps_to_a_standard_value(tmp_path, monkeypatch):
    """No kernel config on the machine: readings of /proc/timer_list's jiffies counter, each
    bracketed by the clock before and after the read."""
    timer_list = tmp_path / "timer_list"
    state = {}

    def feed(clock_ns, jiffies_read):
        state["clock"], state["readings"] = iter(clock_ns), iter(jiffies_read)
    real_open = open

    def fake_open(path, mode="r", *a, **k):
        if path == str(timer_list):
            timer_list.write_bytes(b"now at 1 nsecs\njiffies: %d\n" % next(state["readings"]))
        return real_open(path, mode, *a, **k)
    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr(jiffies.time, "monotonic_ns", lambda: next(state["clock"]))
    monkeypatch.setattr(jiffies.time, "sleep", lambda s: None)
    # 50 jiffies in 0.2 s, reads of 1 ms: 244..256 jiffies/s holds only HZ 250
    feed([0, 1_000_000, 200_000_000, 201_000_000], [1000, 1050])
    assert jiffies.measured_hz(path=str(timer_list)) == 250
    # a 40 ms read under load: 55 jiffies mean 225..350/s (250 and 300 fit); the next reading,
    # 300 jiffies 1 s in, narrows it to 299..314/s: HZ 300 alone
    feed([0, 40_000_000, 200_000_000, 240_000_000, 1_000_000_000, 1_001_000_000],
         [1000, 1055, 1300])
    assert jiffies.measured_hz(path=str(timer_list)) == 300
    # 36 jiffies in 0.2 s: 174..186/s is no standard HZ
    feed([0, 1_000_000, 200_000_000, 201_000_000], [0, 36])
    assert jiffies.measured_hz(path=str(timer_list)) is None
    # still ambiguous when it gives up
    feed([0, 40_000_000, 200_000_000, 240_000_000], [1000, 1055])
    assert jiffies.measured_hz(path=str(timer_list), give_up_s=0.1) is None
    feed([0], [])
    assert jiffies.measured_hz(path=str(tmp_path / "absent")) is None
