"""The batch decoder on raw records laid out exactly like struct gs_event (no kernel needed)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from probes import events as ev
from tracer import schema
from tracer.live.decode import Decoder


def test_dtype_matches_the_c_struct_size():
    # sizeof(struct gs_event): 8+4*4+16 + 6*8 + 8+8 + 4*4 + 16+16
    assert ev.EVENT_SIZE == 152
    c = (Path(ev.__file__).parent / "gemscope_common.bpf.h").read_text()
    body = c[c.index("struct gs_event {"):c.index("};", c.index("struct gs_event {"))]
    names = re.findall(r"\b(\w+)(?:\[\d+\])?;", body)
    assert names == list(ev.EVENT_DTYPE.names)


def test_every_type_maps_to_a_schema_kind_with_valid_fields():
    for kind in ev.TYPES.values():
        assert kind in schema.KINDS
        assert set(ev.SLOTS[kind]) <= set(schema.KINDS[kind].fields)


def test_decode_contention_and_trylock_batch():
    raw = ev.pack(2, ts_ns=[100, 300], type=ev.TYPE_OF["lock_contention"], cpu=[0, 1],
                  pid=[10, 11], tid=[12, 13], comm=[b"writer", b"writer"], a0=[0xdead0, 0xdead0],
                  aux=32, duration_ns=[50, 70], ret=[0, -4], stack_id=[-1, 3],
                  holder_tid=[0, 77], bits=[0, ev.B_HOLDER_VALID | ev.B_IS_RESV],
                  str1=[b"", b"holder"])
    raw += ev.pack(1, ts_ns=200, type=ev.TYPE_OF["resv_trylock"], tid=5, comm=b"kswapd0",
                   a0=0xbeef, bits=ev.B_IN_SHRINKER | (3 << ev.STAGE_SHIFT), stack_id=3)
    d = Decoder(stack_frames=lambda sid: ["ww_mutex_trylock+0x0", "drm_gem_lru_scan+0x9c"],
                stack_offset=1000)
    out = d.decode(bytearray(raw))
    lc = out["lock_contention"]
    assert lc["ts_ns"].tolist() == [100, 300]
    assert lc["duration_ns"].tolist() == [50, 70] and lc["ret"].tolist() == [0, -4]
    assert lc["holder_tid"].to_pylist() == [None, 77]
    assert lc["holder_comm"].to_pylist() == [None, "holder"]
    assert lc["is_resv"].tolist() == [False, True]
    assert lc["stack_id"].to_pylist() == [None, 1003]
    assert lc["comm"].cast("string").to_pylist() == ["writer", "writer"]
    assert lc["flags"].tolist() == [32, 32]
    tr = out["resv_trylock"]
    assert tr["success"].tolist() == [False]
    assert tr["stage"].to_pylist() == ["active_purge"]
    assert tr["context"].to_pylist() == ["shrinker"]
    assert tr["in_reclaim"].tolist() == [True]            # kswapd by name
    assert tr["caller"].to_pylist() == ["drm_gem_lru_scan+0x9c"]
    assert tr["api"].to_pylist() == ["ww_mutex_trylock"]
    st = out["stack"]
    assert st["stack_id"].tolist() == [1003]
    assert st["frames"].to_pylist() == ["ww_mutex_trylock+0x0\ndrm_gem_lru_scan+0x9c"]
    # a stack id is emitted once
    again = d.decode(ev.pack(1, ts_ns=400, type=ev.TYPE_OF["resv_trylock"], stack_id=3))
    assert "stack" not in again and d.decoded == 4


def test_unknown_values_become_null():
    raw = ev.pack(2, type=ev.TYPE_OF["shrink_scan"], a0=[128, 64],
                  a1=[np.uint64(2**64 - 1), np.uint64(12)], bits=[ev.B_SHRINK_STOP, 0])
    raw += ev.pack(1, type=ev.TYPE_OF["free"], a0=0x1000, a1=4096, a2=0, a3=0)
    raw += ev.pack(1, type=ev.TYPE_OF["lru_scan"], a3=5, bits=0)
    raw += ev.pack(1, type=ev.TYPE_OF["retire_run"], a0=np.uint64(2**64 - 1), a1=3)
    out = Decoder().decode(raw)
    assert out["shrink_scan"]["freed_pages"].to_pylist() == [None, 12]
    assert out["free"]["size_bytes"].to_pylist() == [None]     # no headers: size unknown
    assert out["free"]["lock_addr"].to_pylist() == [None]
    assert out["lru_scan"]["remaining_pages"].to_pylist() == [None]
    assert out["retire_run"]["queue_delay_ns"].to_pylist() == [None]
    assert out["retire_run"]["submits_retired"].tolist() == [3]


def test_decoded_columns_write_and_read_back(tmp_path):
    from tracer.frames import load_frames
    from tracer.recording import RecordingWriter
    raw = ev.pack(3, ts_ns=[1, 2, 3], type=ev.TYPE_OF["shrink_slab"], a0=0xffffffff81234560,
                  a1=[128, 0, 7], a2=[1000, 10, 20], ret=[5, 0, 7], duration_ns=[10, 20, 30])
    out = Decoder(symbol=lambda a: "super_cache_scan").decode(raw)
    path = tmp_path / "r.gsrec"
    with RecordingWriter(path, {"source": "test"}) as w:
        for kind, cols in out.items():
            w.append(kind, cols)
    df = load_frames(str(path))["shrink_slab"]
    assert df["freed_pages"].tolist() == [5, 0, 7]
    assert df["count_pages"].tolist() == [1000, 10, 20]
    assert df["nr_to_scan_pages"].tolist() == [128, 0, 7]
    assert list(df["shrinker"].astype(str)) == ["super_cache_scan"] * 3


def test_lock_caller_is_the_first_frame_outside_bpf_and_the_mutex_code():
    """A lock's stack comes from its kprobe/fentry, or (when it waited) from
    lock:contention_begin, whose innermost frames are BPF's and the mutex slow path's."""
    stacks = {
        1: ["ww_mutex_lock_interruptible+0x5", "submit_lock_objects+0x17f", "gs_submit+0xd6"],
        2: ["bpf_prog_88b874b13cee81c5_raw_tracepoint__contention_begin+0x10c",
            "bpf_trace_run2+0x89", "__ww_mutex_lock.constprop.0+0x1a0",
            "submit_lock_objects+0x89", "gs_submit.constprop.0+0xd6"],
        3: ["ww_mutex_trylock+0x9", "drm_gem_lru_scan+0x9c", "msm_gem_shrinker_scan+0x40"],
        4: ["drm_gem_object_free+0x5", "submit_retire+0x30", "retire_worker+0x80"],
    }
    raw = ev.pack(3, ts_ns=[1, 2, 3], type=ev.TYPE_OF["resv_lock"], tid=5, comm=b"gs",
                  stack_id=[1, 2, -1], bits=ev.B_IS_RESV)
    raw += ev.pack(1, ts_ns=4, type=ev.TYPE_OF["resv_trylock"], tid=5, comm=b"kswapd0",
                   stack_id=3, bits=ev.B_IS_RESV)
    raw += ev.pack(1, ts_ns=5, type=ev.TYPE_OF["resv_hold"], tid=5, comm=b"gs", stack_id=2)
    raw += ev.pack(1, ts_ns=6, type=ev.TYPE_OF["last_put"], tid=5, comm=b"gs", stack_id=4)
    out = Decoder(stack_frames=stacks.__getitem__).decode(bytearray(raw))
    assert out["resv_lock"]["caller"].to_pylist() == [
        "submit_lock_objects+0x17f", "submit_lock_objects+0x89", None]
    assert out["resv_trylock"]["caller"].to_pylist() == ["drm_gem_lru_scan+0x9c"]
    assert out["resv_hold"]["caller"].to_pylist() == ["submit_lock_objects+0x89"]
    # other kinds keep "frame 0 is the probed function"
    assert out["last_put"]["caller"].to_pylist() == ["submit_retire+0x30"]
