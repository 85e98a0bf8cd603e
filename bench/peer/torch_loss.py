"""The same loss and input gradient as the engine, in PyTorch (autograd, oneDNN on the CPU): the peer
that `npm run bench -- --peer` times in the same run as ours.

    python3 bench/peer/torch_loss.py WEIGHTS SIZE [--runs 3] [--threads 2]

The network is VGG-19 to conv5_1 with the weights file's convolutions (safetensors, read here without
the safetensors package); the loss is the engine's (src/losses/): content = mean((F - P)^2) at conv4_2,
style = mean((F·Fᵀ/M - A)^2) at conv1_1…conv5_1 with weight 100 each, TV = Σ squared neighbour
differences / numel with weight 1e-3. The inputs are bench/engine.ts's synthetic images, so the loss
printed is comparable with ours. Prints one JSON line: median and minimum ms of one loss + backward
after one warm-up, and the loss.
"""
import argparse
import json
import math
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument('weights')
parser.add_argument('size', type=int)
parser.add_argument('--runs', type=int, default=3)
parser.add_argument('--threads', type=int, default=2)
args = parser.parse_args()
torch.set_num_threads(args.threads)

# VGG-19's feature layers, as torchvision's `features` indices (the file's keys), to conv5_1.
CONVS = [(0, 'conv1_1'), (2, 'conv1_2'), 'pool', (5, 'conv2_1'), (7, 'conv2_2'), 'pool', (10, 'conv3_1'), (12, 'conv3_2'),
         (14, 'conv3_3'), (16, 'conv3_4'), 'pool', (19, 'conv4_1'), (21, 'conv4_2'), (23, 'conv4_3'), (25, 'conv4_4'), 'pool',
         (28, 'conv5_1')]
STYLE = ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1']


def read_safetensors(path):
    with open(path, 'rb') as f:
        (length,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for key, info in header.items():
        if key == '__metadata__':
            continue
        begin, end = info['data_offsets']
        tensors[key] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=np.float32).reshape(info['shape']).copy())
    return tensors


weights = read_safetensors(args.weights)


def features(x):
    out = {}
    for layer in CONVS:
        if layer == 'pool':
            x = F.max_pool2d(x, 2, 2)
            continue
        index, name = layer
        x = F.relu(F.conv2d(x, weights[f'features.{index}.weight'], weights[f'features.{index}.bias'], padding=1))
        out[name] = x
    return out


def gram(f):
    c = f.shape[1]
    flat = f.reshape(c, -1)
    return flat @ flat.t() / flat.numel()


n = args.size * args.size
i = np.arange(3 * n, dtype=np.float64)
image = (60 * np.sin(i * 0.001) + 20 * np.cos(i * 0.37)).astype(np.float32)
style_image = (60 * np.cos(i * 0.0007) + 30 * np.sin(i * 0.11)).astype(np.float32)
shape = (1, 3, args.size, args.size)
with torch.no_grad():
    content_target = features(torch.from_numpy(image).reshape(shape))['conv4_2']
    style_feats = features(torch.from_numpy(style_image).reshape(shape))
    grams = {l: gram(style_feats[l]) for l in STYLE}
x0 = torch.from_numpy((image + np.sin(i).astype(np.float32)).reshape(shape))


def evaluate():
    x = x0.clone().requires_grad_(True)
    f = features(x)
    loss = torch.mean((f['conv4_2'] - content_target) ** 2)
    for l in STYLE:
        loss = loss + 100 * torch.mean((gram(f[l]) - grams[l]) ** 2)
    tv = ((x[..., :, 1:] - x[..., :, :-1]) ** 2).sum() + ((x[..., 1:, :] - x[..., :-1, :]) ** 2).sum()
    loss = loss + 1e-3 * tv / x.numel()
    loss.backward()
    return float(loss), x.grad


evaluate()  # warm-up
times = []
for _ in range(args.runs):
    t0 = time.perf_counter()
    value, _ = evaluate()
    times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({'size': args.size, 'ms': statistics.median(times), 'minMs': min(times), 'loss': value, 'torch': torch.__version__,
                  'threads': torch.get_num_threads()}))
