"""A session's takes are stored and measured several at a time (studio.pipeline._each_take): the
results keep the takes' order, the work overlaps, and an error is raised, not lost."""
from __future__ import annotations

import threading
import time

import pytest

from studio.pipeline import TAKES_AT_ONCE, _each_take


def test_results_keep_the_order_of_the_takes_while_the_work_overlaps():
    running, most = [0], [0]
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05 * (6 - n))   # the first take finishes last
        with lock:
            running[0] -= 1
        return n * n

    assert list(_each_take(work, [1, 2, 3, 4, 5])) == [1, 4, 9, 16, 25]
    assert most[0] == TAKES_AT_ONCE


def test_an_error_in_one_take_is_raised():
    def work(n: int) -> int:
        if n == 2:
            raise ValueError("take 2 is not audio")
        return n

    with pytest.raises(ValueError, match="take 2"):
        list(_each_take(work, [1, 2, 3]))
    assert list(_each_take(work, [1])) == [1]
