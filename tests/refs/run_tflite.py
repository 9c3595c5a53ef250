#!/usr/bin/env python3
"""Runs a batch through the TFLite interpreter (ai-edge-litert) one sample at a time.

Usage: run_tflite.py MODEL IN.npy OUT.npy [--kernels reference|default] [--dump-dir DIR]
                     [--dump-sample K]

IN.npy holds a batch [N, ...] of inputs whose per-sample shape is the model input's
shape without its leading batch dimension of 1, and whose dtype is the input's (int8 or
float32). OUT.npy receives the stacked outputs [N, ...] (int8 stays int8, float32 stays
float32). --kernels reference uses TFLite's reference kernels (BUILTIN_REF); default is
the interpreter's default resolver (optimized kernels plus the XNNPACK delegate).
--dump-dir DIR keeps every intermediate tensor and writes those of the first sample (or
of sample K) to DIR/<tensor index>.npy, plus DIR/tensors.json (one line per tensor:
index, name, shape, dtype, quantization scales, zero points and axis).
Exit status 2 with a one-line message on bad input.
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

RESOLVERS = {"reference": OpResolverType.BUILTIN_REF, "default": OpResolverType.AUTO}


class UsageError(Exception):
    """Bad model, input file or arguments."""


def make_interpreter(model, kernels, preserve_all_tensors=False):
    """An interpreter with allocated tensors, one thread, the given kernels."""
    if kernels not in RESOLVERS:
        raise UsageError(f"unknown kernels {kernels!r}; expected one of {sorted(RESOLVERS)}")
    try:
        interp = Interpreter(
            model_path=str(model),
            num_threads=1,
            experimental_op_resolver_type=RESOLVERS[kernels],
            experimental_preserve_all_tensors=preserve_all_tensors,
        )
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise UsageError(f"{model}: cannot load model: {e}") from e
    return interp


def single(details, what, model):
    if len(details) != 1:
        raise UsageError(f"{model}: expected 1 {what}, the model has {len(details)}")
    return details[0]


def check_batch(batch, detail, in_path):
    """Checks that batch is [N, *input shape without the batch dim] of the input's dtype.

    detail: an input's details from LiteRT's or TFLite Micro's interpreter (the latter has no name).
    """
    shape = [int(d) for d in detail["shape"]]
    name = detail.get("name", 0)
    if not shape or shape[0] != 1:
        raise UsageError(f"model input {name!r} has shape {shape}; expected batch 1")
    if batch.dtype != detail["dtype"]:
        raise UsageError(f"{in_path}: dtype {batch.dtype}, but the model input "
                         f"{name!r} is {np.dtype(detail['dtype'])}")
    if list(batch.shape[1:]) != shape[1:]:
        raise UsageError(f"{in_path}: shape {list(batch.shape)}, expected [N, "
                         f"{', '.join(map(str, shape[1:]))}] for model input {shape}")
    if batch.shape[0] == 0:
        raise UsageError(f"{in_path}: empty batch")


def run(model, batch, kernels="reference", dump_dir=None, in_path="input", dump_sample=0):
    """Runs every sample of batch; returns the stacked outputs. Dumps one sample if asked."""
    interp = make_interpreter(model, kernels, preserve_all_tensors=dump_dir is not None)
    inp = single(interp.get_input_details(), "input", model)
    out = single(interp.get_output_details(), "output", model)
    check_batch(batch, inp, in_path)
    if dump_dir is not None and not 0 <= dump_sample < len(batch):
        raise UsageError(f"--dump-sample {dump_sample} out of range for a batch of {len(batch)}")
    outputs = []
    for i, sample in enumerate(batch):
        interp.set_tensor(inp["index"], sample[None])
        interp.invoke()
        outputs.append(interp.get_tensor(out["index"])[0].copy())
        if i == dump_sample and dump_dir is not None:
            dump(interp, Path(dump_dir))
    return np.stack(outputs)


def dump(interp, dump_dir):
    """Writes every readable tensor to dump_dir/<index>.npy and an index tensors.json."""
    dump_dir.mkdir(parents=True, exist_ok=True)
    index = []
    for t in interp.get_tensor_details():
        entry = {
            "index": int(t["index"]),
            "name": t["name"],
            "shape": [int(d) for d in t["shape"]],
            "dtype": np.dtype(t["dtype"]).name,
            "scale": [float(s) for s in t["quantization_parameters"]["scales"]],
            "zero_point": [int(z) for z in t["quantization_parameters"]["zero_points"]],
            "axis": int(t["quantization_parameters"]["quantized_dimension"]),
        }
        try:
            value = interp.get_tensor(t["index"])
        except ValueError:  # e.g. tensors without data
            entry["dumped"] = False
        else:
            np.save(dump_dir / f"{t['index']}.npy", value)
            entry["dumped"] = True
        index.append(entry)
    lines = ",\n ".join(json.dumps(e) for e in index)
    (dump_dir / "tensors.json").write_text(f"[{lines}]\n")


def load_batch(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read .npy: {e}") from e


def main():
    ap = argparse.ArgumentParser(
        description="Run a batch through the TFLite interpreter, one sample at a time.")
    ap.add_argument("model", type=Path)
    ap.add_argument("input", type=Path, help=".npy batch [N, ...input shape without batch]")
    ap.add_argument("output", type=Path, help=".npy to write, [N, ...output shape]")
    ap.add_argument("--kernels", choices=sorted(RESOLVERS), default="reference")
    ap.add_argument("--dump-dir", type=Path, help="save all tensors of one sample here")
    ap.add_argument("--dump-sample", type=int, default=0, metavar="K",
                    help="which sample --dump-dir saves (default 0)")
    args = ap.parse_args()
    try:
        if not args.model.is_file():
            raise UsageError(f"{args.model}: no such model file")
        batch = load_batch(args.input)
        result = run(args.model, batch, args.kernels, args.dump_dir, args.input, args.dump_sample)
        np.save(args.output, result)
    except UsageError as e:
        print(f"run_tflite: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
