"""A MobileNet-v1-style CNN: a strided stem, then depthwise-separable blocks.

Sized like a small edge vision model (about 1.6M parameters and 89M multiply-adds at
96x96 with width 1.0), so its latency on a CPU is milliseconds of real convolution
work rather than microseconds of runtime overhead.
"""

import torch
from torch import nn

# (output channels at width 1.0, stride) for each depthwise-separable block.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (1024, 1))
STEM_CHANNELS = 32


def scaled(channels, width):
    # Keep channel counts multiples of 8: CPU kernels vectorise on them.
    return max(8, int(round(channels * width / 8.0)) * 8)


def conv_bn_relu(cin, cout, kernel, stride, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class DepthwiseSeparable(nn.Module):
    """A 3x3 depthwise convolution then a 1x1 pointwise one (MobileNet's block)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.depthwise = conv_bn_relu(cin, cin, 3, stride, groups=cin)
        self.pointwise = conv_bn_relu(cin, cout, 1, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MobileNetDemo(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, width=1.0, blocks=BLOCKS):
        super().__init__()
        channels = scaled(STEM_CHANNELS, width)
        layers = [conv_bn_relu(in_channels, channels, 3, 2)]
        for cout, stride in blocks:
            cout = scaled(cout, width)
            layers.append(DepthwiseSeparable(channels, cout, stride))
            channels = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
