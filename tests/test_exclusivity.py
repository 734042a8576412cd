"""Serial tests run alone: the cross-process reader/writer lock never lets one overlap another test."""
import multiprocessing as mp
import time

from fixtures import exclusivity


def _hold(run_dir, exclusive, start_after, seconds, out):
    time.sleep(start_after)
    with exclusivity.hold(run_dir, exclusive):
        t0 = time.monotonic()
        time.sleep(seconds)
        out.put((exclusive, t0, time.monotonic()))


def test_an_exclusive_holder_never_overlaps_shared_ones_and_is_not_starved(tmp_path):
    out = mp.Queue()
    # two readers keep the lock busy in turns; the writer asks in the middle and must get in before the late reader
    # (margins of 0.3 s so a loaded machine does not reorder the requests)
    plan = [(False, 0.0, 1.0), (False, 0.1, 1.0), (True, 0.4, 0.3), (False, 0.7, 0.2)]
    procs = [mp.Process(target=_hold, args=(tmp_path, *p, out)) for p in plan]
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    spans = [out.get(timeout=1) for _ in plan]
    writer = next(s for s in spans if s[0])
    for exclusive, start, end in spans:
        if not exclusive:
            assert end <= writer[1] or start >= writer[2], f"shared span {start:.2f}-{end:.2f} overlaps the exclusive one {writer}"
    late_reader = max((s for s in spans if not s[0]), key=lambda s: s[1])
    assert late_reader[1] >= writer[2], "the writer was starved by a reader that asked after it"
    shared = sorted(s for s in spans if not s[0])
    assert shared[0][2] > shared[1][1], "the first two readers should have shared the lock"
