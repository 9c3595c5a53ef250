"""Reference vectors for the new ops, from the real TFLite interpreter (reference kernels).

Every model is written the way Keras 3 users write them: `keras.Input(shape)`
with no fixed batch size, converted by TF's converter to full-integer int8
(representative dataset, int8 input/output) and to plain float32. Each model is
resized to a batch of 2 and invoked once on random data with
`OpResolverType.BUILTIN_REF`; every tensor and every operator (with its
builtin options) is written to kernels-int8/tests/tflite/ops/<name>_{int8,f32}.txt:
    tensor <index> <dtype> <shape,..> <scale,..> <zero_point,..> : <values..>
    op <NAME> <input,..> <output,..> [key=value ...]
tests/tflite_ops.rs replays each operator with this crate's kernels.

Run with the project venv (tensorflow-cpu 2.21, Keras 3.15, ai-edge-litert 2.3.0):
    .venv/bin/python kernels-int8/tests/tflite/ops/gen_ops.py [name...]
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
import keras
from keras import layers, ops
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from ai_edge_litert import schema_py_generated as schema

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 2
OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def bias(seed):
    return keras.initializers.RandomNormal(stddev=0.3, seed=seed)


def convert(model, shapes, rng, int8):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        def rep():
            for _ in range(40):
                # Keyed by input name: the converter's input order need not be Keras's.
                yield {f"in{k}": rng.uniform(-3, 3, size=(1, *s)).astype(np.float32)
                       for k, s in enumerate(shapes)}
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def fmt_opt(v):
    if isinstance(v, (list, tuple, np.ndarray)):
        return ",".join(str(fmt_opt(x)) for x in v) or "-"
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(np.float32(v)))
    return str(v)


def options(tfl):
    m = schema.ModelT.InitFromPackedBuf(tfl, 0)
    out = []
    for o in m.subgraphs[0].operators:
        c = m.operatorCodes[o.opcodeIndex]
        name = OP_NAMES[max(c.builtinCode, c.deprecatedBuiltinCode)]
        kv = []
        if o.builtinOptions is not None:
            for k, v in sorted(vars(o.builtinOptions).items()):
                if v is None or isinstance(v, (dict, object)) and not isinstance(
                        v, (int, float, bool, list, tuple, np.ndarray, np.generic)):
                    continue
                kv.append(f"{k}={fmt_opt(v)}")
        out.append((name, kv))
    return out


def dump(name, tfl, rng):
    it = Interpreter(model_content=tfl, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    for d in it.get_input_details():
        sig = d["shape_signature"]
        it.resize_tensor_input(d["index"], [BATCH if s < 0 else s for s in sig])
    it.allocate_tensors()
    for d in it.get_input_details():
        if d["dtype"] == np.float32:
            x = rng.uniform(-3.5, 3.5, size=d["shape"]).astype(np.float32)
        else:
            x = rng.integers(-128, 128, size=d["shape"]).astype(np.int8)
        it.set_tensor(d["index"], x)
    it.invoke()
    lines = []
    for t in it.get_tensor_details():
        try:
            v = it.get_tensor(t["index"])
        except ValueError:
            continue
        if v is None:
            continue
        q = t["quantization_parameters"]
        dtype = np.dtype(t["dtype"]).name
        shape = ",".join(str(s) for s in v.shape) or "-"
        scales = ",".join(repr(float(np.float32(s))) for s in q["scales"]) or "-"
        zps = ",".join(str(int(z)) for z in q["zero_points"]) or "-"
        if dtype == "float32":
            vals = " ".join(repr(float(x)) for x in v.flatten())
        else:
            vals = " ".join(str(int(x)) for x in v.flatten())
        lines.append(f"tensor {t['index']} {dtype} {shape} {scales} {zps} : {vals}")
    opts = options(tfl)
    for k, op in enumerate(it._get_ops_details()):
        ins = ",".join(str(i) for i in op["inputs"]) or "-"
        outs = ",".join(str(i) for i in op["outputs"])
        assert opts[k][0] == op["op_name"], (opts[k][0], op["op_name"])
        extra = (" " + " ".join(opts[k][1])) if opts[k][1] else ""
        lines.append(f"op {op['op_name']} {ins} {outs}{extra}")
    with open(os.path.join(HERE, f"{name}.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(name, sorted(set(o[0] for o in opts)))


def split3(x):
    a, b, c = ops.split(x, 3, axis=-1)
    return [a, b * 2.0, c]


MODELS = {
    "mean": ([(5, 4, 3)], lambda x: [
        layers.GlobalAveragePooling2D()(x),
        layers.GlobalAveragePooling2D(keepdims=True)(x),
        ops.mean(x, axis=-1, keepdims=True),
        ops.mean(x, axis=(1,))]),
    "sum": ([(5, 4, 3)], lambda x: [ops.sum(x, axis=1), ops.sum(x, axis=(1, 2), keepdims=True)]),
    "pad": ([(4, 3, 2)], lambda x: [layers.ZeroPadding2D(((1, 2), (0, 1)))(x),
                                    ops.pad(x, ((0, 0), (1, 0), (0, 2), (1, 1)), constant_values=0.75)]),
    "pad_conv": ([(4, 3, 2)], lambda x: layers.Conv2D(3, 1, bias_initializer=bias(6))(
        layers.ZeroPadding2D(((1, 2), (0, 1)))(x))),
    "concat": ([(3, 4, 2), (3, 4, 3)], lambda a, b: layers.Concatenate()([a, b * 4.0])),
    "binary": ([(3, 4, 5), (1, 1, 5)], lambda a, b: [
        layers.Add()([a, b]), a - b, a * b, ops.square(a - b),
        ops.maximum(a, b), ops.minimum(a, b)]),
    "activations": ([(4, 32)], lambda x: [
        layers.ReLU()(x), layers.ReLU(max_value=6.0)(x * 3.0), layers.Activation("relu6")(x),
        layers.LeakyReLU(negative_slope=0.2)(x),
        layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.0, 0.5, seed=3))(x),
        layers.Activation("sigmoid")(x), layers.Activation("tanh")(x),
        layers.Activation("hard_swish")(x * 2.0)]),
    "movement": ([(4, 3, 6)], lambda x: [
        layers.Permute((3, 1, 2))(x), ops.take(x, np.array([5, 0, 2, 2]), axis=3),
        *split3(x), *[p * 1.5 for p in ops.split(x, [2, 5], axis=-1)], x[:, 1:4:2, ::-1, 2], x[:, ..., 1:5],
        ops.stack([u * 2.0 for u in ops.unstack(x, axis=2)][::-1], axis=2), layers.Flatten()(x)]),
    "nn": ([(7, 6, 3)], lambda x: [
        layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", bias_initializer=bias(1))(x),
        layers.DepthwiseConv2D(3, depth_multiplier=2, padding="valid", activation="relu6",
                               bias_initializer=bias(2))(x),
        layers.Dense(5, bias_initializer=bias(3))(x),
        layers.MaxPooling2D(2)(x), layers.AveragePooling2D(3, strides=2, padding="same")(x),
        layers.Softmax()(layers.Dense(6, bias_initializer=bias(4))(layers.Flatten()(x)))]),
    "prelu": ([(4, 16)], lambda x: layers.PReLU(
        alpha_initializer=keras.initializers.RandomUniform(0.0, 0.5, seed=3))(x)),
    "rsqrt": ([(4, 16)], lambda x: ops.rsqrt(ops.abs(x) * 2.0 + 0.05)),
    "layer_norm": ([(4, 6)], lambda x: layers.LayerNormalization()(layers.Dense(6, bias_initializer=bias(5))(x))),
}


def main():
    only = sys.argv[1:]
    for i, (name, (shapes, body)) in enumerate(MODELS.items()):
        if only and name not in only:
            continue
        keras.utils.set_random_seed(1000 + i)
        xs = [keras.Input(s, name=f"in{k}") for k, s in enumerate(shapes)]
        ys = body(*xs)
        model = keras.Model(xs if len(xs) > 1 else xs[0], ys)
        for int8 in (True, False):
            rng = np.random.default_rng(2000 + i)
            tfl = convert(model, shapes, rng, int8)
            dump(f"{name}_{'int8' if int8 else 'f32'}", tfl, rng)


if __name__ == "__main__":
    main()
