#!/usr/bin/env python3
"""Clips per second of the Python keyword-spotting front ends, one clip per call.

Usage: bench_features.py CLIPS.npy [--seconds S]

CLIPS.npy holds int16 clips (N, samples). Prints JSON {engine: {"clips_per_s": ...}} for
TensorFlow's audio_microfrontend op (micro_speech settings), tf.signal MFCC (the same
pipeline as tests/refs/kws_features.py, eager and inside a tf.function) and
librosa.feature.mfcc (n_fft 512, win 480, hop 320, 40 mels 20-4000 Hz, 40 coefficients,
centering off), with TensorFlow limited to one thread. Run by `workbench bench features`.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.lite.experimental.microfrontend.python.ops import (  # noqa: E402
    audio_microfrontend_op as frontend_op,
)

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)


def rate(clips, seconds, f):
    for c in clips:  # warm-up (tracing, planning)
        f(c)
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for c in clips:
            f(c)
        n += len(clips)
    return {"clips_per_s": n / (time.perf_counter() - start)}


def micro(c):
    return frontend_op.audio_microfrontend(
        c, sample_rate=16000, window_size=30, window_step=20, num_channels=40,
        out_scale=1, out_type=tf.uint16).numpy()


MEL = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 4000.0)


def mfcc_tf(c):
    x = tf.cast(c, tf.float32) / 32768.0
    s = tf.abs(tf.signal.stft(x, 480, 320, 512, window_fn=tf.signal.hann_window))
    m = tf.math.log(tf.tensordot(s, MEL, 1) + 1e-6)
    return tf.signal.mfccs_from_log_mel_spectrograms(m)[..., :40]


mfcc_tf_function = tf.function(mfcc_tf)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clips")
    ap.add_argument("--seconds", type=float, default=2.0)
    a = ap.parse_args()
    clips = np.load(a.clips)
    tensors = [tf.constant(c) for c in clips]
    out = {
        "tensorflow audio_microfrontend op": rate(tensors, a.seconds, micro),
        "tf.signal mfcc (eager)": rate(tensors, a.seconds, lambda c: mfcc_tf(c).numpy()),
        "tf.signal mfcc (tf.function)": rate(
            tensors, a.seconds, lambda c: mfcc_tf_function(c).numpy()),
    }
    try:
        import librosa

        floats = [c.astype(np.float32) / 32768.0 for c in clips]
        out["librosa mfcc"] = rate(floats, a.seconds, lambda x: librosa.feature.mfcc(
            y=x, sr=16000, n_mfcc=40, n_fft=512, win_length=480, hop_length=320,
            n_mels=40, fmin=20.0, fmax=4000.0, center=False, htk=True))
    except ImportError:
        pass
    print(json.dumps(out))


if __name__ == "__main__":
    main()
