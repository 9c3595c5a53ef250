"""Keras' training-time layers as references for the workbench's candle ops.

Reads a JSON list of cases on stdin and writes a JSON list of results on
stdout. Tensors travel as flat float lists in the workbench's layout (NCHW;
depthwise weights [C*M, 1, kh, kw]) and are transposed here to Keras' NHWC /
[kh, kw, C, M]. Each case returns the layer's output and the gradients of
sum(output * r) from tf.GradientTape, in float64 where Keras allows it.

Cases:
  batch_norm   x, r, gamma, beta, moving_mean, moving_var, momentum, epsilon
               -> y (training=True), dx, dgamma, dbeta, moving_mean, moving_var
  depthwise    x, r, w, b, kernel, multiplier, stride, padding, dilation
               -> y, dx, dw, db
  pool         x, r, pool_kind (max|avg), kernel, stride, padding -> y, dx
  smoothed_ce  logits, labels, smoothing -> loss, dlogits
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

keras.backend.set_floatx("float64")


def nhwc(v, shape):
    return np.asarray(v, np.float64).reshape(shape).transpose(0, 2, 3, 1)


def nchw_list(t):
    return np.asarray(t).transpose(0, 3, 1, 2).reshape(-1).tolist()


def batch_norm(c):
    shape = c["shape"]
    rank4 = len(shape) == 4
    x = nhwc(c["x"], shape) if rank4 else np.asarray(c["x"], np.float64).reshape(shape)
    r = nhwc(c["r"], shape) if rank4 else np.asarray(c["r"], np.float64).reshape(shape)
    layer = keras.layers.BatchNormalization(
        axis=-1, momentum=c["momentum"], epsilon=c["epsilon"], dtype="float64"
    )
    layer.build(x.shape)
    layer.gamma.assign(c["gamma"])
    layer.beta.assign(c["beta"])
    layer.moving_mean.assign(c["moving_mean"])
    layer.moving_variance.assign(c["moving_var"])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        loss = tf.reduce_sum(y * r)
    dx, dg, db = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    out = nchw_list(y) if rank4 else np.asarray(y).reshape(-1).tolist()
    dxl = nchw_list(dx) if rank4 else np.asarray(dx).reshape(-1).tolist()
    return {
        "y": out,
        "dx": dxl,
        "dgamma": np.asarray(dg).tolist(),
        "dbeta": np.asarray(db).tolist(),
        "moving_mean": np.asarray(layer.moving_mean).tolist(),
        "moving_var": np.asarray(layer.moving_variance).tolist(),
    }


def depthwise(c):
    shape = c["shape"]
    n, ch, h, w = shape
    m = c["multiplier"]
    kh, kw = c["kernel"]
    x = nhwc(c["x"], shape)
    # [C*M, 1, kh, kw] with output channel c*M + m -> [kh, kw, C, M]
    wk = np.asarray(c["w"], np.float64).reshape(ch, m, kh, kw).transpose(2, 3, 0, 1)
    layer = keras.layers.DepthwiseConv2D(
        (kh, kw),
        strides=c["stride"],
        padding=c["padding"],
        depth_multiplier=m,
        dilation_rate=c["dilation"],
        dtype="float64",
    )
    layer.build(x.shape)
    layer.kernel.assign(wk)
    layer.bias.assign(c["b"])
    xt = tf.constant(x)
    y0 = layer(xt)
    r = nhwc(c["r"], [n, ch * m, y0.shape[1], y0.shape[2]])
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        loss = tf.reduce_sum(y * r)
    dx, dk, db = tape.gradient(loss, [xt, layer.kernel, layer.bias])
    dw = np.asarray(dk).transpose(2, 3, 0, 1).reshape(-1).tolist()
    return {
        "y": nchw_list(y),
        "out_shape": [n, ch * m, int(y.shape[1]), int(y.shape[2])],
        "dx": nchw_list(dx),
        "dw": dw,
        "db": np.asarray(db).tolist(),
    }


def pool(c):
    shape = c["shape"]
    x = nhwc(c["x"], shape)
    cls = keras.layers.MaxPooling2D if c["pool_kind"] == "max" else keras.layers.AveragePooling2D
    layer = cls(c["kernel"], strides=c["stride"], padding=c["padding"], dtype="float64")
    xt = tf.constant(x)
    y0 = layer(xt)
    r = nhwc(c["r"], [shape[0], shape[1], y0.shape[1], y0.shape[2]])
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        loss = tf.reduce_sum(y * r)
    dx = tape.gradient(loss, xt)
    return {
        "y": nchw_list(y),
        "out_shape": [shape[0], shape[1], int(y.shape[1]), int(y.shape[2])],
        "dx": nchw_list(dx),
    }


def smoothed_ce(c):
    z = tf.constant(np.asarray(c["logits"], np.float64).reshape(c["shape"]))
    onehot = tf.one_hot(c["labels"], c["shape"][1], dtype=tf.float64)
    fn = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=c["smoothing"])
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = fn(onehot, z)
    return {"loss": float(loss), "dlogits": np.asarray(tape.gradient(loss, z)).reshape(-1).tolist()}


KINDS = {"batch_norm": batch_norm, "depthwise": depthwise, "pool": pool, "smoothed_ce": smoothed_ce}

if __name__ == "__main__":
    cases = json.load(sys.stdin)
    json.dump([KINDS[c["kind"]](c) for c in cases], sys.stdout)
