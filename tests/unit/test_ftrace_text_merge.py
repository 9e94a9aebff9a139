"""Exact values of the merge helpers: comms from per-chunk dictionary codes (text._strings) and
the mapping's row selection without copies (mapping._rows)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from tracer.ftrace.mapping import _rows
from tracer.ftrace.text import _strings


def test_comms_from_chunk_dictionaries():
    d1 = pa.array(["bash", "kswapd0"], pa.large_string())
    d2 = pa.array(["kswapd0", "<idle>", "bash"], pa.large_string())
    pieces = [(np.array([1, 0, 1]), d1), (np.array([0]), d1),        # two names, one chunk
              (np.array([2, 1, 0, 0]), d2)]
    out = _strings(pieces)
    assert out.to_pylist() == ["kswapd0", "bash", "kswapd0", "bash",
                               "bash", "<idle>", "kswapd0", "kswapd0"]
    assert out.type == pa.large_string()


def test_rows_are_the_array_itself_when_all_are_taken():
    arr = np.array([5, 6, 7])
    assert _rows(arr, np.arange(3)) is arr
    assert _rows(arr, np.array([0, 2])).tolist() == [5, 7]
    assert _rows(arr, np.zeros(0, np.int64)).tolist() == []
