"""Receive frames as torch tensors through DLPack, without a copy.

python examples/python/subscribe_torch.py --key cam0
"""

import argparse

import torch

import cuframes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--key", default="cam0")
parser.add_argument("--frames", type=int, default=0, help="stop after this many (0: until the producer stops)")
args = parser.parse_args()

with cuframes.Subscriber(args.key, connect_timeout=30) as sub:
    print(f"connected: {sub.width}x{sub.height} {sub.format} on {sub.backend}", flush=True)
    for count, frame in enumerate(sub, start=1):
        # The whole NV12 frame as one (h*3/2, w) uint8 tensor: on the GPU with the
        # cuda backend, on the CPU with host. It shares the slot's memory (read-only!).
        nv12 = torch.from_dlpack(frame)
        y = nv12[: frame.height]
        print(
            f"seq={frame.seq} missed={frame.missed} device={nv12.device} mean_luma={y.float().mean().item():.1f}",
            flush=True,
        )
        del nv12, y  # drop the views before the loop releases the frame
        if count == args.frames:
            break
