#!/usr/bin/env python3
"""Times PyTorch training of MobileNetV1 on the CPU; prints JSON {"samples_per_s": ...}.

The network matches `workbench::models::mobilenet_v1`: a 3x3 stride-2 stem, 13
depthwise-separable blocks (3x3 depthwise, 1x1 pointwise, each convolution
without bias and followed by batch norm and ReLU), global average pool, linear
classifier; channels scaled by the width multiplier as `int(c * width)`. The
step matches `workbench bench mobilenet-train`: random N(0, 1) images, random
labels, cross-entropy, SGD (learning rate 0.01, momentum 0.9, Nesterov,
weight decay 4e-5 on the weights only).
"""
import argparse
import json
import time

import torch
from torch import nn

BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [
    (1024, 2),
    (1024, 1),
]


def mobilenet_v1(width, classes):
    def scaled(c):
        return max(1, int(c * width))

    def conv_bn(cin, cout, k, stride, groups):
        return [
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]

    c = scaled(32)
    layers = conv_bn(3, c, 3, 2, 1)
    for channels, stride in BLOCKS:
        out = scaled(channels)
        layers += conv_bn(c, c, 3, stride, c) + conv_bn(c, out, 1, 1, 1)
        c = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--resolution", type=int, default=96)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = mobilenet_v1(a.width, a.classes).train()
    weights = [q for q in model.parameters() if q.dim() > 1]
    vectors = [q for q in model.parameters() if q.dim() <= 1]
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": 4e-5}, {"params": vectors, "weight_decay": 0.0}],
        lr=0.01,
        momentum=0.9,
        nesterov=True,
    )
    x = torch.randn(a.batch_size, 3, a.resolution, a.resolution)
    y = torch.randint(0, a.classes, (a.batch_size,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup_steps):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "samples_per_s": a.steps * a.batch_size / elapsed,
                "parameters": sum(q.numel() for q in model.parameters()),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
