#!/usr/bin/env python3
"""Whole-model and single-op .tflite fixtures made the way a Keras 3 user makes them.

Every model starts from `keras.Input(shape)` with NO fixed batch size and goes
through TensorFlow's own converter: int8 full-integer (representative dataset,
TFLITE_BUILTINS_INT8, int8 input and output unless the name says `float_io`),
and plain float32 (`*_f32`). For each NAME it writes
    NAME.tflite          the converted model
    NAME.input.npy       a small batch (BATCH rows, or 1 where the model cannot be resized)
    NAME.expected.npy    outputs of ai_edge_litert's Interpreter with OpResolverType.BUILTIN_REF
                         (a model with several outputs writes NAME.expected.K.npy instead)
and MODELS.md, listing each model, its size and the ops in its flatbuffer. The
representative sets the converter calibrates with come from representative.py
(numpy only), which the Rust tests run to calibrate on the same data.

Run from the repository root after scripts/setup-venv.sh:
    .venv/bin/python tests/refs/keras3/gen_models.py [--only NAME...]
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from representative import CALIB, SINGLE_SHAPES, WHOLE_SHAPES, calib, data  # noqa: E402

HERE = Path(__file__).resolve().parent
BATCH = 3


def bias(seed):
    """Non-zero biases, so every bias path is exercised."""
    return keras.initializers.RandomNormal(stddev=0.2, seed=seed)


def model_of(inputs_shapes, body, seed):
    keras.utils.set_random_seed(seed)
    xs = [keras.Input(s, name=f"in{k}") for k, s in enumerate(inputs_shapes)]
    y = body(*xs)
    return keras.Model(xs if len(xs) > 1 else xs[0], y)


# ---------------------------------------------------------------- single ops
# name -> (input shapes, body); each becomes NAME_int8 and NAME_f32.

def _split(x):
    a, b, c = ops.split(x, 3, axis=-1)
    return [a * 1.0, b + 0.0, c]


SINGLE = {
    "mean_gap": ([(6, 5, 4)], lambda x: layers.GlobalAveragePooling2D()(x)),
    "mean_gap_keepdims": ([(6, 5, 4)], lambda x: layers.GlobalAveragePooling2D(keepdims=True)(x)),
    "mean_last_axis": ([(5, 7)], lambda x: ops.mean(x, axis=-1, keepdims=True)),
    "sum_axis1": ([(5, 7)], lambda x: ops.sum(x, axis=1)),
    "pad_zero": ([(5, 4, 3)], lambda x: layers.ZeroPadding2D(((1, 2), (2, 0)))(x)),
    "pad_value": ([(5, 3)], lambda x: ops.pad(x, ((0, 0), (1, 1), (2, 0)), constant_values=0.5)),
    "concat": ([(4, 4, 3), (4, 4, 2)], lambda a, b: layers.Concatenate()([a, b * 3.0])),
    "add_bcast": ([(4, 5, 3), (1, 1, 3)], lambda a, b: layers.Add()([a, b])),
    "sub": ([(4, 6), (4, 6)], lambda a, b: layers.Subtract()([a, b])),
    "mul_bcast": ([(4, 5, 3), (1, 5, 1)], lambda a, b: a * b),
    "squared_difference": ([(4, 6), (1, 6)], lambda a, b: ops.square(a - b)),
    "maximum": ([(4, 6), (4, 6)], lambda a, b: layers.Maximum()([a, b])),
    "minimum": ([(4, 6), (4, 6)], lambda a, b: layers.Minimum()([a, b])),
    "neg": ([(4, 6)], lambda x: ops.negative(x)),
    "rsqrt": ([(4, 6)], lambda x: ops.rsqrt(ops.abs(x) + 0.5)),
    "relu": ([(4, 6)], lambda x: layers.ReLU()(x)),
    "relu6": ([(4, 6)], lambda x: layers.Activation("relu6")(x)),
    "leaky_relu": ([(4, 6)], lambda x: layers.LeakyReLU(negative_slope=0.2)(x)),
    "prelu": ([(4, 6)], lambda x: layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.0, 0.5, seed=3))(x)),
    "logistic": ([(4, 6)], lambda x: layers.Activation("sigmoid")(x * 2.0)),
    "tanh": ([(4, 6)], lambda x: layers.Activation("tanh")(x * 2.0)),
    "hard_swish": ([(4, 6)], lambda x: layers.Activation("hard_swish")(x * 3.0)),
    "transpose": ([(3, 4, 5)], lambda x: layers.Permute((3, 1, 2))(x)),
    "gather": ([(5, 6)], lambda x: ops.take(x, np.array([4, 0, 2, 2]), axis=1)),
    "split": ([(4, 6)], _split),
    "strided_slice": ([(6, 8, 3)], lambda x: x[:, 1:5:2, ::3, 1]),
    "unpack_pack": ([(3, 4)], lambda x: ops.stack([u * 2.0 for u in ops.unstack(x, axis=1)][::-1], axis=1)),
    "flatten": ([(4, 3, 2)], lambda x: layers.Flatten()(x)),
    "conv": ([(7, 7, 3)], lambda x: layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", bias_initializer=bias(1))(x)),
    "depthwise": ([(7, 7, 3)], lambda x: layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", bias_initializer=bias(2))(x)),
    "dense_batched": ([(5, 6)], lambda x: layers.Dense(4, bias_initializer=bias(3))(x)),
    "max_pool": ([(6, 6, 3)], lambda x: layers.MaxPooling2D(2)(x)),
    "avg_pool": ([(6, 6, 3)], lambda x: layers.AveragePooling2D(3, strides=2, padding="same")(x)),
    "softmax": ([(3, 7)], lambda x: layers.Softmax()(x)),
}


# ---------------------------------------------------------------- whole models

def mnist_net():
    def body(x):
        x = layers.Conv2D(8, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(16, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(32, 5)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(64, activation="relu")(x)
        return layers.Dense(10)(x)
    return model_of([(28, 28, 1)], body, 1500)


def gap_head():
    def body(x):
        x = layers.Conv2D(8, 3, activation="relu", bias_initializer=bias(4))(x)
        x = layers.GlobalAveragePooling2D()(x)
        return layers.Dense(5, activation="softmax")(x)
    return model_of([(12, 12, 3)], body, 1501)


def layer_norm():
    def body(x):
        x = layers.Dense(16, bias_initializer=bias(5))(x)
        x = layers.LayerNormalization()(x)
        return layers.Dense(4)(x)
    return model_of([(6, 8)], body, 1502)


def mobilenet():
    """MobileNet v1 0.25 at 96x96, 3 classes, random weights with batch-norm statistics set
    from sample data layer by layer (with Keras's initial statistics the activations die out
    over the 13 blocks and the int8 logits end up with a scale near 1e-8)."""
    keras.utils.set_random_seed(1503)
    m = keras.applications.MobileNet(input_shape=(96, 96, 3), alpha=0.25, weights=None, classes=3)
    x = data((96, 96, 3), 1599, 16)
    for layer in m.layers:
        if isinstance(layer, layers.BatchNormalization):
            h = keras.Model(m.inputs, layer.input)(x)
            h = np.asarray(h).reshape(-1, h.shape[-1])
            gamma, beta, _, _ = layer.get_weights()
            layer.set_weights([gamma, beta, h.mean(0), h.var(0) + 1e-3])
    return m


def se_block():
    def body(x):
        x = layers.Conv2D(8, 3, padding="same", activation="relu", bias_initializer=bias(6))(x)
        s = layers.GlobalAveragePooling2D()(x)
        s = layers.Dense(4, activation="relu")(s)
        s = layers.Dense(8, activation="sigmoid")(s)
        s = layers.Reshape((1, 1, 8))(s)
        return layers.Multiply()([x, s])
    return model_of([(8, 8, 3)], body, 1504)


def zero_padding():
    def body(x):
        # Asymmetric, so the converter cannot fold it into a SAME convolution.
        x = layers.ZeroPadding2D(((1, 2), (0, 1)))(x)
        return layers.Conv2D(4, 3, strides=2, bias_initializer=bias(7))(x)
    return model_of([(9, 9, 2)], body, 1505)


def concat_model():
    def body(x):
        a = layers.Conv2D(4, 1, bias_initializer=bias(8))(x)
        b = layers.Conv2D(3, 3, padding="same", activation="relu", bias_initializer=bias(9))(x)
        return layers.Concatenate()([a, b, x])
    return model_of([(6, 6, 2)], body, 1506)


def hard_swish_model():
    def body(x):
        x = layers.Conv2D(6, 3, bias_initializer=bias(10))(x)
        return layers.Activation("hard_swish")(x)
    return model_of([(7, 7, 2)], body, 1507)


def leaky_relu_model():
    def body(x):
        x = layers.Dense(12, bias_initializer=bias(11))(x)
        x = layers.LeakyReLU(negative_slope=0.1)(x)
        return layers.Dense(3)(x)
    return model_of([(10,)], body, 1508)


WHOLE = {
    "mnist": (mnist_net, (28, 28, 1)),
    "gap_head": (gap_head, (12, 12, 3)),
    "layer_norm": (layer_norm, (6, 8)),
    "mobilenet_025_96": (mobilenet, (96, 96, 3)),
    "se_block": (se_block, (8, 8, 3)),
    "zero_padding": (zero_padding, (9, 9, 2)),
    "concat_model": (concat_model, (6, 6, 2)),
    "hard_swish_model": (hard_swish_model, (7, 7, 2)),
    "leaky_relu_model": (leaky_relu_model, (10,)),
}


# ---------------------------------------------------------------- conversion

def converter_for(model, calib_list):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    names = [t.name.split(":")[0] for t in model.inputs] if len(calib_list) > 1 else None

    def rep():
        for i in range(CALIB):
            # Keyed by input name when there are several: the converter's input
            # order need not be Keras's.
            if names:
                yield {n: c[i:i + 1] for n, c in zip(names, calib_list)}
            else:
                yield [c[i:i + 1] for c in calib_list]
    conv.representative_dataset = rep
    return conv, rep


def convert_int8(model, calib_list, float_io=False):
    conv, _ = converter_for(model, calib_list)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def convert_f32(model):
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def convert_selective(model, calib_list):
    """Int8 except the denylisted ops/nodes, through the Quantization Debugger."""
    conv, rep = converter_for(model, calib_list)
    opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=["MEAN"])
    dbg = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=rep, debug_options=opts)
    return dbg.get_nondebug_quantized_model()


def convert_selective_nodes(model, calib_list):
    """Int8 except the first FULLY_CONNECTED, named by its output tensor (`denylisted_nodes`)."""
    from ai_edge_litert import schema_py_generated as s
    conv, rep = converter_for(model, calib_list)
    full = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=rep)
    m = s.ModelT.InitFromPackedBuf(full.get_nondebug_quantized_model(), 0)
    g = m.subgraphs[0]
    fc = next(o for o in g.operators
              if m.operatorCodes[o.opcodeIndex].builtinCode == s.BuiltinOperator.FULLY_CONNECTED)
    node = g.tensors[fc.outputs[0]].name.decode()
    conv, rep = converter_for(model, calib_list)
    opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=[node])
    dbg = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=rep, debug_options=opts)
    return dbg.get_nondebug_quantized_model()


def interpreter(tfl):
    return Interpreter(model_content=tfl, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)


def quantize_like(detail, x):
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    scale, zp = detail["quantization"]
    return np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)


def run_ref(tfl, floats):
    """Runs the batch (falls back to one row); returns (inputs, outputs)."""
    for n in (floats[0].shape[0], 1):
        try:
            it = interpreter(tfl)
            dets = sorted(it.get_input_details(), key=lambda d: d["name"])
            xs = []
            for d, f in zip(dets, floats):
                x = quantize_like(d, f[:n])
                it.resize_tensor_input(d["index"], list(x.shape))
                xs.append(x)
            it.allocate_tensors()
            for d, x in zip(dets, xs):
                it.set_tensor(d["index"], x)
            it.invoke()
            return xs, [it.get_tensor(d["index"]) for d in it.get_output_details()]
        except Exception as e:  # a model that cannot take a batch
            print(f"  batch {n} failed: {e}", file=sys.stderr)
    raise RuntimeError("model does not run")


def op_names(tfl):
    from ai_edge_litert import schema_py_generated as s
    m = s.ModelT.InitFromPackedBuf(tfl, 0)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for o in m.subgraphs[0].operators:
        c = m.operatorCodes[o.opcodeIndex]
        out.append(names[max(c.builtinCode, c.deprecatedBuiltinCode)])
    return out


def tensor_types(tfl, floats):
    it = interpreter(tfl)
    i = ",".join(np.dtype(d["dtype"]).name for d in it.get_input_details())
    o = ",".join(np.dtype(d["dtype"]).name for d in it.get_output_details())
    return i, o


def save(name, tfl, floats, rows):
    xs, ys = run_ref(tfl, floats)
    (HERE / f"{name}.tflite").write_bytes(tfl)
    if len(xs) == 1:
        np.save(HERE / f"{name}.input.npy", xs[0])
    else:
        for k, x in enumerate(xs):
            np.save(HERE / f"{name}.input.{k}.npy", x)
    if len(ys) == 1:
        np.save(HERE / f"{name}.expected.npy", ys[0])
    else:
        for k, y in enumerate(ys):
            np.save(HERE / f"{name}.expected.{k}.npy", y)
    ti, to = tensor_types(tfl, floats)
    rows.append((name, len(tfl), xs[0].shape[0], ti, to, op_names(tfl)))
    print(f"{name}: {len(tfl)} bytes, batch {xs[0].shape[0]}, {' '.join(sorted(set(op_names(tfl))))}")


calib_of = calib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    # The representative sets come from representative.py (the Rust tests read them there too).
    assert {k: v[0] for k, v in SINGLE.items()} == SINGLE_SHAPES
    assert {k: v[1] for k, v in WHOLE.items()} == WHOLE_SHAPES
    rows = []
    want = lambda n: not args.only or any(n.startswith(o) for o in args.only)  # noqa: E731
    for i, (name, (shapes, body)) in enumerate(SINGLE.items()):
        if not want(name):
            continue
        model = model_of(shapes, body, 100 + i)
        calib = calib_of(name)
        batch = [data(s, 300 + i + k, BATCH, 1.2) for k, s in enumerate(shapes)]
        try:
            save(f"{name}_int8", convert_int8(model, calib), batch, rows)
        except Exception as e:
            print(f"{name}_int8 FAILED: {e}", file=sys.stderr)
        try:
            save(f"{name}_f32", convert_f32(model), batch, rows)
        except Exception as e:
            print(f"{name}_f32 FAILED: {e}", file=sys.stderr)
    for i, (name, (build, shape)) in enumerate(WHOLE.items()):
        if not want(name):
            continue
        model = build()
        calib = calib_of(name)
        batch = [data(shape, 500 + i, BATCH if name != "mobilenet_025_96" else 1)]
        save(f"{name}_int8", convert_int8(model, calib), batch, rows)
        save(f"{name}_f32", convert_f32(model), batch, rows)
        if name in ("mnist", "gap_head"):
            save(f"{name}_float_io", convert_int8(model, calib, float_io=True), batch, rows)
        if name == "gap_head":
            save(f"{name}_selective", convert_selective(model, calib), batch, rows)
        if name == "mnist":
            save(f"{name}_selective_nodes", convert_selective_nodes(model, calib), batch, rows)
    write_index()


# The one fixture this script does not make (train_mnist.py does), described below the table.
TRAINED = """`mnist_trained_f32.tflite` is the one trained model here: the MNIST tutorial's
network trained by `train_mnist.py` (Keras 3, 2 epochs on 20,000 MNIST images, pixels / 255)
and converted to float32 by TF's converter, as a user would bring it to the debugger
(`notebooks/quantization_tips.ipynb`, section 5). Its references come from
`train_mnist.py --refs`: the first 4 MNIST test images / 255 and TFLite's BUILTIN_REF outputs."""


def write_index():
    """MODELS.md from every NAME.tflite here (so partial runs keep it current)."""
    rows = []
    for path in sorted(HERE.glob("*.tflite")):
        tfl = path.read_bytes()
        name = path.stem
        inputs = sorted(HERE.glob(f"{name}.input*.npy"))
        batch = np.load(inputs[0]).shape[0] if inputs else "?"
        ti = ",".join(np.load(i).dtype.name for i in inputs)
        outs = sorted(HERE.glob(f"{name}.expected*.npy"))
        to = ",".join(np.load(o).dtype.name for o in outs)
        uniq = []
        for o in op_names(tfl):
            if o not in uniq:
                uniq.append(o)
        rows.append((name, len(tfl), batch, ti, to, uniq))
    total = sum(f.stat().st_size for f in HERE.iterdir() if f.suffix in (".tflite", ".npy"))
    lines = [
        "# Keras 3 fixtures (no fixed batch size)",
        "",
        "Made by `gen_models.py` (tensorflow-cpu 2.21, Keras 3.15, ai-edge-litert 2.3.0): each model",
        "is built from `keras.Input(shape)` with no batch size and converted by TF's converter:",
        "`*_int8` full-integer with int8 input and output, `*_f32` plain float32, `*_float_io` int8",
        "inside with float32 input and output, `*_selective` int8 except the ops the Quantization",
        "Debugger's `denylisted_ops` keeps in float (here MEAN, with float ops between int8 ones),",
        "`*_selective_nodes` the same with `denylisted_nodes` (the first FULLY_CONNECTED's output),",
        "`*_dynamic` dynamic-range quantized by `dynamic_range.py` (`Optimize.DEFAULT` without",
        "representative data: int8 weights, float32 activations, TFLite's hybrid kernels).",
        "`NAME.input.npy` (or `NAME.input.K.npy` per input, K in the order of the input names",
        "`in0`, `in1`, ...) is the batch fed to the model, already quantized for int8 inputs;",
        "`NAME.expected.npy` (or `.expected.K.npy` per output, in the interpreter's output order)",
        "holds ai_edge_litert's outputs with `OpResolverType.BUILTIN_REF`: compare int8 exactly,",
        "float32 to 1e-5 of the output range. Models that cannot take a batch run with 1.",
        "`mobilenet_025_96` has random weights, with batch-norm statistics taken from sample data.",
        "`representative.py NAME DIR` writes the representative set TF calibrated NAME's models with.",
        "",
        f"Total size of the .tflite and .npy files: {total} bytes.",
        "",
        "| model | .tflite bytes | batch | input | output | ops (first use order) |",
        "|---|---|---|---|---|---|",
    ]
    for name, size, n, ti, to, names in rows:
        lines.append(f"| {name} | {size} | {n} | {ti} | {to} | {', '.join(names)} |")
    lines += ["", TRAINED]
    (HERE / "MODELS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
