"""perception.timing: one bounded timer for every latency figure."""


def test_timings_keep_a_bounded_window_but_count_every_call():
    from perception.timing import Timings, time_calls

    timings = Timings(window=3)
    for ms in (1.0, 2.0, 3.0, 4.0, 5.0):
        timings.add(ms)
    assert (timings.count, timings.total_ms, list(timings.recent)) == (5, 15.0, [3.0, 4.0, 5.0])
    assert timings.median() == 4.0 and timings.since(3) == [4.0, 5.0]
    with timings.measure():
        pass
    assert timings.count == 6 and len(timings.recent) == 3
    calls = []
    timed = time_calls(lambda: calls.append(1), runs=4, warmup=2)
    assert len(calls) == 6 and timed.count == 4
