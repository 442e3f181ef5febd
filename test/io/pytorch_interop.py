"""The Python side of test/io/pytorch.test.ts: safetensors read and written with json + struct +
numpy only (the `safetensors` package is not assumed), and the PyTorch SmallCNN that
src/nn/models/smallCnn.ts mirrors.

Modes:
  numpy-rewrite IN OUT
      Reads IN, prints {name: [dtype, shape, sum as float]} as JSON, and writes OUT holding the same
      tensors (in reverse order, with this writer's layout) plus `py.f16` (F16 [1, -2, 0.5]) and
      `py.i64` (I64 [-3, 2**40]). Needs numpy only.
  numpy-forward WEIGHTS INPUT OUT_LOGITS
      The eval-mode SmallCNN of `torch` mode below, in float64 numpy (zero padding 1, BatchNorm with
      eps 1e-5 on running statistics, global average pool), so the architecture is checked against
      ours even where PyTorch is not installed. Needs numpy only.
  torch TS_WEIGHTS TS_INPUT OUT_LOGITS OUT_WEIGHTS OUT_IO
      Loads TS_WEIGHTS (written by eed-webgpu) into the PyTorch SmallCNN, writes its eval-mode
      logits on TS_INPUT's `x` to OUT_LOGITS; then builds its own SmallCNN (seeded, with BatchNorm
      statistics moved by two train-mode passes), writes its state dict to OUT_WEIGHTS and an input
      batch `x` with its eval-mode `logits` to OUT_IO.
"""

import json
import struct
import sys

import numpy as np

DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]])
        arr = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=base + begin)
        tensors[name] = arr.reshape(info["shape"]).copy()  # writable and aligned, as torch wants
    return tensors, metadata


def dtype_name(arr):
    for name, code in DTYPES.items():
        if np.dtype(code) == arr.dtype:
            return name
    raise ValueError(f"no safetensors dtype for {arr.dtype}")


def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name, arr in tensors.items():
        blob = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype_name(arr), "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def numpy_rewrite(src, dst):
    tensors, metadata = read_safetensors(src)
    summary = {name: [dtype_name(a), list(a.shape), float(a.astype(np.float64).sum())] for name, a in tensors.items()}
    out = dict(reversed(list(tensors.items())))
    out["py.f16"] = np.array([1, -2, 0.5], dtype=np.float16)
    out["py.i64"] = np.array([-3, 2**40], dtype=np.int64)
    write_safetensors(dst, out, {**metadata, "writer": "pytorch_interop.py"})
    print(json.dumps(summary))


def numpy_forward(weights_path, input_path, out_path):
    w, _ = read_safetensors(weights_path)
    w = {k: v.astype(np.float64) for k, v in w.items()}

    def conv3x3(x, kernel, stride):
        n, _, h, width = x.shape
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        oh, ow = (h - 1) // stride + 1, (width - 1) // stride + 1
        out = np.zeros((n, kernel.shape[0], oh, ow))
        for i in range(3):
            for j in range(3):
                patch = padded[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
                out += np.einsum("nchw,oc->nohw", patch, kernel[:, :, i, j])
        return out

    def batch_norm(x, prefix):
        per_channel = lambda name: w[f"{prefix}.{name}"][None, :, None, None]
        return (x - per_channel("running_mean")) / np.sqrt(per_channel("running_var") + 1e-5) * per_channel("weight") + per_channel("bias")

    y = read_safetensors(input_path)[0]["x"].astype(np.float64)
    for k, stride in ((1, 1), (2, 2), (3, 2)):
        y = np.maximum(batch_norm(conv3x3(y, w[f"conv{k}.weight"], stride), f"bn{k}"), 0)
    logits = y.reshape(y.shape[0], -1) @ w["linear.weight"].T + w["linear.bias"]
    write_safetensors(out_path, {"logits": logits})


def torch_mode(ts_weights, ts_input, out_logits, out_weights, out_io):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(32)
            self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(64)
            self.conv3 = nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False)
            self.bn3 = nn.BatchNorm2d(128)
            self.linear = nn.Linear(128 * 7 * 7, 10)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = F.relu(self.bn2(self.conv2(x)))
            x = F.relu(self.bn3(self.conv3(x)))
            return self.linear(x.flatten(1))

    torch.set_num_threads(1)
    with torch.no_grad():
        # eed-webgpu → PyTorch
        weights, _ = read_safetensors(ts_weights)
        model = SmallCNN()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
        model.eval()
        x = torch.from_numpy(read_safetensors(ts_input)[0]["x"])
        write_safetensors(out_logits, {"logits": model(x).numpy()})

        # PyTorch → eed-webgpu
        torch.manual_seed(1234)
        model = SmallCNN()
        model.train()
        model(torch.rand(8, 1, 28, 28))
        model(torch.rand(8, 1, 28, 28))
        model.eval()
        state = {k: v.numpy() for k, v in model.state_dict().items()}
        assert state["bn1.num_batches_tracked"].dtype == np.int64
        write_safetensors(out_weights, state, {"format": "pt"})
        x = torch.rand(4, 1, 28, 28)
        write_safetensors(out_io, {"x": x.numpy(), "logits": model(x).numpy()})


def main():
    mode, *args = sys.argv[1:]
    if mode == "numpy-rewrite":
        numpy_rewrite(*args)
    elif mode == "numpy-forward":
        numpy_forward(*args)
    elif mode == "torch":
        torch_mode(*args)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
