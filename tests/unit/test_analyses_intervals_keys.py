"""Join keys: every integer column type becomes an int64 array with the same values/bit pattern."""
import numpy as np
import pandas as pd

from tracer.analyses.intervals import NULL_KEY, key_array


def test_key_array_accepts_every_integer_width():
    assert key_array(pd.Series(np.array([1, 2**32 - 1], dtype=np.uint32))).tolist() == [1, 2**32 - 1]
    assert key_array(pd.Series(np.array([2**64 - 1], dtype=np.uint64))).tolist() == [-1]
    assert key_array(pd.Series(np.array([-5, 7], dtype=np.int16))).tolist() == [-5, 7]
    assert key_array(pd.Series([1, None], dtype="UInt32")).tolist() == [1, NULL_KEY]
    assert key_array(pd.Series([3, None], dtype="Int32")).tolist() == [3, NULL_KEY]
