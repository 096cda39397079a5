#!/usr/bin/python3
"""A .safetensors file in, a per-tensor table out: the error each format
makes on each weight matrix (blocks along the last axis, as the peers lay
them out).

    PYTHONPATH=python python3 examples/python/my_weights.py model.safetensors [SPEC...]

Without a file, a small synthetic checkpoint is written and used.
"""
import json
import struct
import sys

import numpy as np

import capmetric


def read_safetensors(path):
    """the float tensors of a .safetensors file, as NumPy arrays"""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    kinds = {"F16": np.float16, "F32": np.float32, "F64": np.float64}
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] not in kinds:
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], kinds[t["dtype"]]).reshape(t["shape"])
    return out


def synthetic(path):
    rng = np.random.default_rng(0)
    tensors = {"layer0.attn.weight": rng.standard_normal((256, 256)) * 0.02,
               "layer0.mlp.weight": rng.standard_t(4, (512, 256)) * 0.01}
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = a.astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/capmetric_example.safetensors"
if len(sys.argv) < 2:
    synthetic(path)
specs = sys.argv[2:] or ["int4_g32", "mxfp4", "nvfp4", "rht:dim=32+mxfp4"]
rows = []
for name, w in read_safetensors(path).items():
    for spec in specs:
        r = capmetric.mse(spec, w, pad=True)
        rows.append({"tensor": name, "format": spec, "values": r.values, "nmse": r.nmse,
                     "eff_bits": r.eff_bits, "misalignment": r.misalignment})
try:
    import pandas as pd
    print(pd.DataFrame(rows).to_string(index=False))
except ImportError:
    for r in rows:
        print(r)
