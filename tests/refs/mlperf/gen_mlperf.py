#!/usr/bin/env python3
"""Input batches and TFLite reference outputs for MLPerf Tiny's trained int8 models.

Usage: gen_mlperf.py   (run from anywhere, with the venv of scripts/setup-venv.sh)

For each model NAME.tflite in this folder (copied unchanged from mlcommons/tiny, see
README.md) writes:
- NAME.input.npy: a batch [N, ...input shape without batch] of int8, uniformly random
  over the whole int8 range (the quantized range of every input here), from a fixed seed;
- NAME.expected.npy: the outputs [N, ...] of TFLite's reference kernels
  (ai-edge-litert, OpResolverType.BUILTIN_REF), one sample at a time;
- NAME.expected_tflm.npy: the outputs of TensorFlow Lite Micro's interpreter (the
  tflite-micro wheel, ../run_tflm.py), whose FULLY_CONNECTED rescales with a fixed-point
  multiplier where LiteRT rescales in double (what the emulated Cortex-M4 runs).
Prints each model's ops and the files' sizes. Deterministic: rerunning rewrites the
same bytes (numpy's PCG64 stream for the seeds below is stable across versions).
"""

import collections
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import run_tflm  # noqa: E402

# name -> (samples, seed); few samples of the large inputs keep the fixtures small.
MODELS = {
    "ad01_int8": (8, 101),
    "kws_ref_model": (8, 102),
    "pretrainedResnet_quant": (4, 103),
    "vww_96_int8": (2, 104),
}


def reference(model, batch):
    """TFLite's reference-kernel outputs for every sample of batch, stacked."""
    interp = Interpreter(
        model_path=str(model),
        num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
    )
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    (out,) = interp.get_output_details()
    outputs = []
    for sample in batch:
        interp.set_tensor(inp["index"], sample[None])
        interp.invoke()
        outputs.append(interp.get_tensor(out["index"])[0].copy())
    ops = collections.Counter(o["op_name"] for o in interp._get_ops_details())
    return np.stack(outputs), inp, out, ops


def main():
    for name, (n, seed) in MODELS.items():
        model = HERE / f"{name}.tflite"
        interp = Interpreter(model_path=str(model))
        (inp,) = interp.get_input_details()
        if inp["dtype"] != np.int8 or inp["shape"][0] != 1:
            sys.exit(f"{model}: expected an int8 input with batch 1, got {inp}")
        rng = np.random.default_rng(seed)
        shape = (n, *[int(d) for d in inp["shape"][1:]])
        batch = rng.integers(-128, 128, size=shape, dtype=np.int8)
        expected, inp, out, ops = reference(model, batch)
        np.save(HERE / f"{name}.input.npy", batch)
        np.save(HERE / f"{name}.expected.npy", expected)
        np.save(HERE / f"{name}.expected_tflm.npy", run_tflm.run(model, batch))
        sizes = [(HERE / f"{name}{s}").stat().st_size for s in (".tflite", ".input.npy", ".expected.npy")]
        print(f"{name}: input {list(inp['shape'])} {inp['quantization']}, output "
              f"{list(out['shape'])} {out['quantization']}, {n} samples; ops {dict(ops)}; "
              f"bytes model {sizes[0]}, input {sizes[1]}, expected {sizes[2]}")


if __name__ == "__main__":
    main()
