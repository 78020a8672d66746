"""preprocess_caffe: uint8 RGB -> bilinear resize (align_corners=False) ->
BGR minus the ImageNet means (Keras 'caffe'), built from torch's own ops."""
import numpy as np
import torch
import torch.nn.functional as F
from common import generator, nchw, nhwc

MEAN_BGR = torch.tensor([103.939, 116.779, 123.68], dtype=torch.float64)

# (case, input NHWC shape, output size)
CASES = [
    ("preprocess_32_224", (2, 32, 32, 3), (224, 224)),
    ("preprocess_5x7_9x4", (2, 5, 7, 3), (9, 4)),
    ("preprocess_same", (1, 6, 5, 3), (6, 5)),  # no resize: the flip and means alone
]


def cases():
    for k, (name, shape, (oh, ow)) in enumerate(CASES):
        images = torch.randint(0, 256, shape, generator=generator(71 + k), dtype=torch.uint8)
        # The full range must be exercised: both ends of uint8.
        images.view(-1)[0], images.view(-1)[1] = 0, 255
        x = nchw(images.to(torch.float64))
        y = nhwc(F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False))
        y = y.flip(-1) - MEAN_BGR  # RGB -> BGR, then the means in BGR order
        yield name, {"images": images.numpy().astype(np.uint8), "y": y.to(torch.float32).numpy()}
