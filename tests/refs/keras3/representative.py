#!/usr/bin/env python3
"""The representative (calibration) data `gen_models.py` gives TF's converter, numpy only.

Both `gen_models.py` (when it converts) and the Rust tests (through this script)
take the data from here, so the tests calibrate on exactly what TensorFlow did
without committing the arrays (about 470 KB). Each model's representative set
is CALIB samples per input from `np.random.default_rng(seed).standard_normal`,
seeded by the model's position in SINGLE / WHOLE.

    python representative.py NAME OUT_DIR
writes OUT_DIR/NAME.representative.npy (or .representative.K.npy per input K)
for a fixture family NAME (e.g. `conv`, `mnist`), shape (CALIB, *input shape).
"""

import sys
from pathlib import Path

import numpy as np

CALIB = 32

# name -> input shapes, in the order of gen_models.SINGLE (the seed is 200 + index + input).
SINGLE_SHAPES = {
    "mean_gap": [(6, 5, 4)],
    "mean_gap_keepdims": [(6, 5, 4)],
    "mean_last_axis": [(5, 7)],
    "sum_axis1": [(5, 7)],
    "pad_zero": [(5, 4, 3)],
    "pad_value": [(5, 3)],
    "concat": [(4, 4, 3), (4, 4, 2)],
    "add_bcast": [(4, 5, 3), (1, 1, 3)],
    "sub": [(4, 6), (4, 6)],
    "mul_bcast": [(4, 5, 3), (1, 5, 1)],
    "squared_difference": [(4, 6), (1, 6)],
    "maximum": [(4, 6), (4, 6)],
    "minimum": [(4, 6), (4, 6)],
    "neg": [(4, 6)],
    "rsqrt": [(4, 6)],
    "relu": [(4, 6)],
    "relu6": [(4, 6)],
    "leaky_relu": [(4, 6)],
    "prelu": [(4, 6)],
    "logistic": [(4, 6)],
    "tanh": [(4, 6)],
    "hard_swish": [(4, 6)],
    "transpose": [(3, 4, 5)],
    "gather": [(5, 6)],
    "split": [(4, 6)],
    "strided_slice": [(6, 8, 3)],
    "unpack_pack": [(3, 4)],
    "flatten": [(4, 3, 2)],
    "conv": [(7, 7, 3)],
    "depthwise": [(7, 7, 3)],
    "dense_batched": [(5, 6)],
    "max_pool": [(6, 6, 3)],
    "avg_pool": [(6, 6, 3)],
    "softmax": [(3, 7)],
}

# name -> input shape, in the order of gen_models.WHOLE (the seed is 400 + index).
WHOLE_SHAPES = {
    "mnist": (28, 28, 1),
    "gap_head": (12, 12, 3),
    "layer_norm": (6, 8),
    "mobilenet_025_96": (96, 96, 3),
    "se_block": (8, 8, 3),
    "zero_padding": (9, 9, 2),
    "concat_model": (6, 6, 2),
    "hard_swish_model": (7, 7, 2),
    "leaky_relu_model": (10,),
}


def data(shape, seed, n, scale=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, *shape)) * scale + offset).astype(np.float32)


def calib(name):
    """The representative set of fixture family NAME: one (CALIB, *shape) array per input."""
    if name in SINGLE_SHAPES:
        i = list(SINGLE_SHAPES).index(name)
        return [data(s, 200 + i + k, CALIB) for k, s in enumerate(SINGLE_SHAPES[name])]
    i = list(WHOLE_SHAPES).index(name)
    return [data(WHOLE_SHAPES[name], 400 + i, CALIB)]


def main():
    name, out = sys.argv[1], Path(sys.argv[2])
    arrays = calib(name)
    if len(arrays) == 1:
        np.save(out / f"{name}.representative.npy", arrays[0])
    else:
        for k, a in enumerate(arrays):
            np.save(out / f"{name}.representative.{k}.npy", a)


if __name__ == "__main__":
    main()
