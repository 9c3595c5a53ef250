#!/usr/bin/env python3
"""Audio features of int16 clips with TensorFlow: the micro front end op and tf.signal MFCC.

Usage:
  kws_features.py micro IN.npy OUT.npy [--window-size MS] [--window-step MS] [--channels N]
                  [--no-pcan] [--sample-rate HZ]
  kws_features.py mfcc IN.npy OUT.npy [--frame-length N] [--frame-step N] [--fft-length N]
                  [--mel-bins N] [--lower-hz F] [--upper-hz F] [--coefficients N]
                  [--dct tf|ortho] [--sample-rate HZ]

IN.npy: int16 (N, samples). micro writes the op's uint16 output widened to int32
(N, frames, channels) from
tensorflow.lite.experimental.microfrontend's audio_microfrontend op (one call per clip,
every other attribute at the Python wrapper's default, which has PCAN on). mfcc writes float32 (N, frames, coefficients):
x / 32768 -> tf.signal.stft (periodic Hann) -> |.| -> linear_to_mel_weight_matrix ->
log(mel + 1e-6) -> tf.signal.mfccs_from_log_mel_spectrograms (--dct tf) or
tf.signal.dct(type=2, norm="ortho") (--dct ortho) -> first N coefficients.
Exit status 2 with a one-line message on bad input.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.lite.experimental.microfrontend.python.ops import (  # noqa: E402
    audio_microfrontend_op as frontend_op,
)


def micro(clips, a):
    out = []
    for clip in clips:
        y = frontend_op.audio_microfrontend(
            tf.constant(clip),
            sample_rate=a.sample_rate,
            window_size=a.window_size,
            window_step=a.window_step,
            num_channels=a.channels,
            enable_pcan=not a.no_pcan,
            out_scale=1,
            out_type=tf.uint16,
        )
        out.append(y.numpy())
    return np.stack(out).astype(np.int32)


def mfcc(clips, a):
    x = tf.constant(clips.astype(np.float32) / 32768.0)
    stft = tf.signal.stft(
        x,
        frame_length=a.frame_length,
        frame_step=a.frame_step,
        fft_length=a.fft_length,
        window_fn=tf.signal.hann_window,
    )
    spec = tf.abs(stft)
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        a.mel_bins, spec.shape[-1], a.sample_rate, a.lower_hz, a.upper_hz
    )
    mel = tf.tensordot(spec, mel_matrix, 1)
    log_mel = tf.math.log(mel + 1e-6)
    if a.dct == "tf":
        c = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)
    else:
        c = tf.signal.dct(log_mel, type=2, norm="ortho")
    return c[..., : a.coefficients].numpy().astype(np.float32)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["micro", "mfcc"])
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--window-size", type=int, default=30)
    p.add_argument("--window-step", type=int, default=20)
    p.add_argument("--channels", type=int, default=40)
    p.add_argument("--no-pcan", action="store_true")
    p.add_argument("--frame-length", type=int, default=480)
    p.add_argument("--frame-step", type=int, default=320)
    p.add_argument("--fft-length", type=int, default=512)
    p.add_argument("--mel-bins", type=int, default=40)
    p.add_argument("--lower-hz", type=float, default=20.0)
    p.add_argument("--upper-hz", type=float, default=4000.0)
    p.add_argument("--coefficients", type=int, default=40)
    p.add_argument("--dct", choices=["tf", "ortho"], default="tf")
    a = p.parse_args()
    clips = np.load(a.input)
    if clips.dtype != np.int16 or clips.ndim != 2:
        print(f"{a.input}: expected int16 (N, samples), got {clips.dtype} {clips.shape}",
              file=sys.stderr)
        sys.exit(2)
    y = micro(clips, a) if a.kind == "micro" else mfcc(clips, a)
    np.save(a.output, y)


if __name__ == "__main__":
    main()
