"""Conversions with the stream's colours: a producer states BT.709 limited range, a subscriber
gets RGB, BGR and gray arrays the way PyAV's VideoFrame.to_ndarray(format=...) gives them
(needs PyAV; with --tensor also torch tensors on the frame's device, needs torch).

    python examples/python/convert_frames.py --key convert-demo [--backend cuda --tensor]
"""

import argparse

import numpy as np

import cuframes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--key", default="convert-demo")
parser.add_argument("--backend", choices=["auto", "cuda", "host"], default="host")
parser.add_argument("--tensor", action="store_true", help="also convert with frame.to_tensor (torch)")
args = parser.parse_args()

W, H = 320, 240
# Pure green in BT.709 limited range: Y 173, Cb 42, Cr 26.
image = np.empty(W * H * 3 // 2, np.uint8)
image[: W * H] = 173
image[W * H :] = np.tile([42, 26], W * H // 4)

with (
    cuframes.Publisher(args.key, W, H, "nv12", backend=args.backend, color=cuframes.ColorInfo.BT709) as pub,
    cuframes.Subscriber(args.key) as sub,
):
    pub.send(image)
    with sub.next(timeout=5) as frame:
        print(f"stream colour: {frame.color}")
        for fmt in ("rgb24", "bgr24", "gray"):
            array = frame.to_ndarray(format=fmt)  # a host numpy array, as PyAV gives
            print(f"to_ndarray {fmt}: shape {array.shape}, pixel {array[H // 2, W // 2].tolist()}")
        if args.tensor:
            tensor = frame.to_tensor(format="rgb24")  # on the frame's GPU (cuda) or the CPU (host)
            print(f"to_tensor rgb24: {tensor.device}, pixel {tensor[H // 2, W // 2].tolist()}")
