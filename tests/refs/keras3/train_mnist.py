"""A trained float model as a user brings it: the MNIST tutorial's Keras 3 network (no fixed
batch size), trained on MNIST and converted to float32 .tflite by TF's converter.

usage: train_mnist.py MNIST_DIR OUT.tflite
       train_mnist.py --refs MNIST_DIR OUT.tflite
MNIST_DIR holds the four idx .gz files (e.g. ../shared/data/mnist). Seeded; 2 epochs on the
first 20,000 training images, pixels / 255. notebooks/quantization_tips.ipynb debugs it.
Training also writes, and `--refs` writes without retraining, the references every fixture in
this folder has: OUT's stem + `.input.npy` (the first 4 MNIST test images / 255) and
`.expected.npy` (ai_edge_litert's BUILTIN_REF outputs on them), as gen_models.py does.
"""
import gzip
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
import keras
from keras import layers


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_refs(mnist_dir, out):
    """NAME.input.npy and NAME.expected.npy beside OUT, from TFLite's reference kernels."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from gen_models import run_ref

    x = idx(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz"))[:4]
    x = (x.astype(np.float32) / 255.0)[..., None]
    with open(out, "rb") as f:
        tfl = f.read()
    xs, ys = run_ref(tfl, [x])
    stem = os.path.splitext(out)[0]
    np.save(stem + ".input.npy", xs[0])
    np.save(stem + ".expected.npy", ys[0])
    print(f"{stem}.input.npy {xs[0].shape}, {stem}.expected.npy {ys[0].shape}")


def main():
    if sys.argv[1] == "--refs":
        write_refs(sys.argv[2], sys.argv[3])
        return
    mnist_dir, out = sys.argv[1], sys.argv[2]
    x = idx(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"))[:20000]
    y = idx(os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"))[:20000]
    x = (x.astype(np.float32) / 255.0)[..., None]
    keras.utils.set_random_seed(2026)
    inp = keras.Input((28, 28, 1))
    h = layers.Conv2D(8, 3, activation="relu")(inp)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Conv2D(16, 3, activation="relu")(h)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Conv2D(32, 5)(h)
    h = layers.Flatten()(h)
    h = layers.Dense(64, activation="relu")(h)
    model = keras.Model(inp, layers.Dense(10)(h))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=2, verbose=2)
    tfl = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with open(out, "wb") as f:
        f.write(tfl)
    print(f"{out}: {len(tfl)} bytes")
    write_refs(mnist_dir, out)


if __name__ == "__main__":
    main()
