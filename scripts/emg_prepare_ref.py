"""An independent scipy/numpy reference of the EMG hands-on's preparation (issue 4).

Written from the issue's description, not from the Rust code:

  1. high-pass: b, a = scipy.signal.butter(4, 10 / 250, btype="highpass");
     scipy.signal.lfilter(b, a, x, axis=0) on the float64 channels;
  2. trim: seg = run lengths of Trigger; keep [seg[0] - seg[2] : len - seg[-1] + 1];
  3. masks: repetitions first..last of each gesture, each with the rest before it;
     train 0..3, val 4..4 of session 1; test = all of session 2;
  4. min-max per channel from the train split;
  5. windows of 300, stride 90, label = trigger[start + 150]; gesture windows need a
     constant trigger over [start - 750, start + 300 + 750) clipped, rest windows over
     the window itself.

Usage:
  python emg_prepare_ref.py S1.parquet S2.parquet OUT_DIR [--concatenate-all]
  python emg_prepare_ref.py S1.parquet S2.parquet --bench REPEATS   # prints JSON timing
"""

import json
import sys
import time

import numpy as np
import pyarrow.parquet as pq
from scipy.signal import butter, lfilter

FS = 500.0
WIN, STRIDE, MARGIN = 300, 90, 750


def read(path):
    t = pq.read_table(path)
    x = np.stack([t.column(f"Ch{i}").to_numpy().astype(np.float64) for i in range(1, 9)], axis=1)
    trig = t.column("Trigger").to_numpy().astype(np.int64)
    return x, trig


def run_lengths(trig):
    change = np.flatnonzero(np.diff(trig)) + 1
    bounds = np.concatenate([[0], change, [len(trig)]])
    return trig[bounds[:-1]], np.diff(bounds)


def filter_trim(x, trig):
    b, a = butter(4, 10 / (FS / 2), btype="highpass")
    y = lfilter(b, a, x, axis=0)
    _, seg = run_lengths(trig)
    sl = slice(seg[0] - seg[2], len(trig) - seg[-1] + 1)
    return y[sl], trig[sl]


def rep_mask(trig, first, last):
    values, lens = run_lengths(trig)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    mask = np.zeros(len(trig), dtype=bool)
    count = {}
    for i in range(1, len(values), 2):
        g = values[i]
        rep = count.get(g, 0)
        count[g] = rep + 1
        if first <= rep <= last:
            mask[starts[i - 1]: starts[i] + lens[i]] = True
    return mask


def windows(x, trig):
    data, labels = [], []
    n = len(trig)
    for s in range(0, n - WIN + 1, STRIDE):
        lab = trig[s + WIN // 2]
        lo, hi = (max(0, s - MARGIN), min(n, s + WIN + MARGIN)) if lab > 0 else (s, s + WIN)
        if np.all(trig[lo:hi] == lab):
            data.append(x[s:s + WIN])
            labels.append(lab)
    if not data:
        return np.zeros((0, WIN, x.shape[1]), np.float32), np.zeros(0, np.int64)
    return np.stack(data).astype(np.float32), np.array(labels, dtype=np.int64)


def prepare(s1, s2, concatenate_all=False):
    x1, t1 = filter_trim(*s1)
    x2, t2 = filter_trim(*s2)
    mtr, mva = rep_mask(t1, 0, 3), rep_mask(t1, 4, 4)
    mn, mx = x1[mtr].min(axis=0), x1[mtr].max(axis=0)
    scale = lambda x: (x - mn) / (mx - mn)  # noqa: E731
    train = windows(scale(x1[mtr]), t1[mtr])
    val = windows(scale(x1[mva]), t1[mva])
    test = windows(scale(x2), t2)
    if concatenate_all:
        both = (np.concatenate([train[0], test[0]]), np.concatenate([train[1], test[1]]))
        train, test = both, both
    return {"train": train, "val": val, "test": test}, mn, mx


def main(argv):
    s1, s2 = read(argv[1]), read(argv[2])
    if argv[3] == "--bench":
        repeats = int(argv[4])
        prepare(s1, s2)  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeats):
            prepare(s1, s2)
        dt = (time.perf_counter() - t0) / repeats
        samples = len(s1[1]) + len(s2[1])
        print(json.dumps({"engine": "scipy", "seconds": dt, "samples_per_s": samples / dt}))
        return
    out = argv[3]
    splits, mn, mx = prepare(s1, s2, "--concatenate-all" in argv)
    for name, (d, l) in splits.items():
        np.save(f"{out}/{name}_data.npy", d)
        np.save(f"{out}/{name}_labels.npy", l)
    with open(f"{out}/rescaling_values.json", "w") as f:
        json.dump({"min": mn.tolist(), "max": mx.tolist()}, f)


if __name__ == "__main__":
    main(sys.argv)
