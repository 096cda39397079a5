#!/usr/bin/python3
"""Your own tensors: `eval --data` and `quantize` against references written
here with NumPy from the format definitions (OCP Microscaling Formats (MX)
v1.0, section 6: the shared scale X = 2^(floor(log2(amax)) - emax_elem) as
E8M0, elements rounded to nearest even and saturated; NVFP4: blocks of 16
with an E4M3 block scale amax/6 relative to an FP32 tensor scale that maps
the tensor's amax onto 448 * 6). Fixtures are generated here (no download).
Bad files: every one exits 2 with a message naming the file, writes nothing.

usage: test_tensors.py CAPMETRIC"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

CM = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="cm-tensors-")
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, file=sys.stderr)


def run(*args):
    p = subprocess.run([CM, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def path(name):
    return os.path.join(TMP, name)


def write_st(name, tensors, header_override=None, tail=b""):
    hdr, off, blobs = {}, 0, []
    for tname, (arr, dt) in tensors.items():
        b = arr.tobytes()
        hdr[tname] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    if header_override:
        header_override(hdr)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path(name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs) + tail)
    return path(name)


# ---- references ------------------------------------------------------------------------

def fp_round(v, ebits, mbits, bias, maxval):
    """v rounded to nearest even on a sign-magnitude FP grid with subnormals, saturated."""
    a = np.abs(v)
    emin = 1 - bias
    e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    e = np.maximum(e, emin)
    step = np.exp2(e - mbits)
    q = np.round(a / step) * step  # numpy rounds half to even
    q = np.minimum(q, maxval)
    return np.copysign(q, v)


ELEM = {  # name: (ebits, mbits, bias, max, emax_elem)
    "e2m1": (2, 1, 1, 6.0, 2),
    "e2m3": (2, 3, 1, 7.5, 2),
    "e3m2": (3, 2, 3, 28.0, 4),
    "e4m3": (4, 3, 7, 448.0, 8),
    "e5m2": (5, 2, 15, 57344.0, 15),
}


def mx_ref(x, elem):
    eb, mb, bias, mx, emax = ELEM[elem]
    b = x.astype(np.float64).reshape(-1, 32)
    amax = np.max(np.abs(b), axis=1, keepdims=True)
    X = np.floor(np.log2(np.where(amax > 0, amax, 1.0))) - emax
    X = np.clip(X, -127, 127)
    s = np.exp2(X)
    q = fp_round(b / s, eb, mb, bias, mx) * s
    q = np.where(amax > 0, q, 0.0)
    return q.reshape(x.shape)


def nvfp4_ref(x):
    b = x.astype(np.float64).reshape(-1, 16)
    tamax = np.max(np.abs(b))
    sg = float(np.float32(tamax / (448.0 * 6.0)))
    amax = np.max(np.abs(b), axis=1, keepdims=True)
    t = fp_round(amax / 6.0 / sg, 4, 3, 7, 448.0)  # the E4M3 block scale code's value
    s = t * sg
    safe = np.where(s > 0, s, 1.0)
    q = np.where(s > 0, fp_round(b / safe, 2, 1, 1, 6.0) * s, 0.0)
    return q.reshape(x.shape)


def int4_g32_ref(x):
    b = x.astype(np.float64).reshape(-1, 32)
    amax = np.max(np.abs(b), axis=1, keepdims=True)
    s = np.where(amax > 0, amax / 7.0, 1.0)
    return (np.clip(np.round(b / s), -7, 7) * s).reshape(x.shape)


REFS = {"mxfp4": lambda x: mx_ref(x, "e2m1"), "mxfp6_e2m3": lambda x: mx_ref(x, "e2m3"),
        "mxfp6_e3m2": lambda x: mx_ref(x, "e3m2"), "mxfp8_e4m3": lambda x: mx_ref(x, "e4m3"),
        "mxfp8_e5m2": lambda x: mx_ref(x, "e5m2"), "nvfp4": nvfp4_ref, "int4_g32": int4_g32_ref}

# ---- fixtures ----------------------------------------------------------------------------

rng = np.random.default_rng(7)
w = (rng.standard_normal((96, 256)) * 0.02).astype(np.float32)
# a few outliers and tiny values: saturation, subnormal elements, E8M0 extremes
w[3, :32] *= 1e-30
w[5, 7] = 3.0
w[6, :32] = 0.0
np.save(path("w.npy"), w)
np.save(path("wf.npy"), np.asfortranarray(w))
lap = rng.laplace(size=(8, 4, 64)).astype(np.float64)
np.save(path("lap.npy"), lap)
np.save(path("w16.npy"), w.astype(np.float16))
bf = (rng.standard_normal((32, 64)).astype(np.float32).view(np.uint32) & 0xFFFF0000)
bf16 = (bf >> 16).astype(np.uint16)
st = write_st("m.safetensors", {"a.weight": (w, "F32"), "b.weight": (bf16, "BF16"),
                                "pos": (np.arange(12, dtype=np.int64), "I64"),
                                "c.bias": (lap[0], "F64")})
odd = rng.standard_normal((10, 100)).astype(np.float32)
np.save(path("odd.npy"), odd)

# ---- eval --data: mse as the references give it -------------------------------------------

def data_json(spec, f, *extra):
    rc, out, err = run("eval", spec, "--data", f, "--json", *extra)
    check(rc == 0, f"eval {spec} --data {f}: rc {rc}: {err}")
    return json.loads(out)["results"] if rc == 0 else []


for spec, ref in REFS.items():
    for f, x in (("w.npy", w), ("lap.npy", lap), ("w16.npy", w.astype(np.float16))):
        r = data_json(spec, path(f))
        if not r:
            continue
        x64 = x.astype(np.float64)
        q = ref(x64)
        mse = np.mean((x64 - q) ** 2)
        got = r[0]["mse"]
        check(abs(got - mse) <= 1e-12 * mse, f"{spec} on {f}: mse {got!r}, reference {mse!r}")
        check(abs(r[0]["nmse"] - mse / np.mean(x64 ** 2)) <= 1e-12 * r[0]["nmse"], f"{spec} {f}: nmse")
        mis = 1 - np.sum(x64 * q) / np.sum(x64 ** 2)
        check(abs(r[0]["misalignment"] - mis) <= 1e-9, f"{spec} {f}: misalignment")
        check(r[0]["values"] == x.size and r[0]["shape"] == list(x.shape), f"{spec} {f}: shape")

# Fortran order is read as the same tensor
a, b = data_json("mxfp4", path("w.npy")), data_json("mxfp4", path("wf.npy"))
check(a and b and a[0]["mse"] == b[0]["mse"], "Fortran order gives another mse")
# threads do not change the numbers
a, b = data_json("int4", path("lap.npy"), "--threads", "1"), data_json("int4", path("lap.npy"), "--threads", "3")
check(a and b and a[0]["mse"] == b[0]["mse"], "threads change the mse")

# safetensors: float tensors only, per tensor and together
r = data_json("mxfp4", st)
names = [x["tensor"] for x in r]
check(names == ["a.weight", "b.weight", "c.bias", "*"], f"safetensors tensors: {names}")
if len(r) == 4:
    xb = (bf16.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    qb = mx_ref(xb, "e2m1")
    check(abs(r[1]["mse"] - np.mean((xb - qb) ** 2)) <= 1e-12 * r[1]["mse"], "bf16 tensor mse")
    tot = sum(x["mse"] * x["values"] for x in r[:3]) / sum(x["values"] for x in r[:3])
    check(abs(r[3]["mse"] - tot) <= 1e-12 * tot, "aggregate row is the value-weighted mse")
r = data_json("mxfp4", st, "--tensor", r"\.weight$")
check([x["tensor"] for x in r] == ["a.weight", "b.weight", "*"], "--tensor regex")

# padding: refused without --pad, counted with it
rc, out, err = run("eval", "mxfp4", "--data", path("odd.npy"))
check(rc == 2 and "not a multiple" in err and "--pad" in err and not out, f"odd last dim: {rc} {err}")
r = data_json("mxfp4", path("odd.npy"), "--pad")
if r:
    x = np.concatenate([odd, np.zeros((10, 28), np.float32)], axis=1).astype(np.float64)
    q = mx_ref(x, "e2m1")[:, :100]
    mse = np.mean((odd.astype(np.float64) - q) ** 2)
    check(abs(r[0]["mse"] - mse) <= 1e-12 * mse and r[0]["padded"] == 280, "--pad mse and count")

# ---- quantize: bit-exact values ---------------------------------------------------------

for spec, ref in REFS.items():
    out = path(f"q_{spec}.npy")
    rc, _, err = run("quantize", spec, path("w.npy"), out)
    check(rc == 0, f"quantize {spec}: {err}")
    if rc:
        continue
    q = np.load(out)
    want = ref(w.astype(np.float64)).astype(np.float32)
    check(q.dtype == np.float32 and q.shape == w.shape, f"quantize {spec}: dtype/shape")
    check(np.array_equal(q, want), f"quantize {spec}: {np.sum(q != want)} values differ from the reference")
rc, _, err = run("quantize", "mxfp4", path("wf.npy"), path("qf.npy"))
qf = np.load(path("qf.npy"))
check(rc == 0 and np.isfortran(qf) and np.array_equal(qf, mx_ref(w.astype(np.float64), "e2m1").astype(np.float32)), "quantize Fortran order")
rc, _, err = run("quantize", "mxfp4", path("w.npy"), path("q16.npy"), "--dtype", "float16")
check(rc == 0 and np.load(path("q16.npy")).dtype == np.float16, "--dtype float16")
if rc == 0:
    check(np.array_equal(np.load(path("q16.npy")), mx_ref(w.astype(np.float64), "e2m1").astype(np.float16)), "float16 output values")
# safetensors out: chosen tensors quantized, the others byte for byte
rc, _, err = run("quantize", "nvfp4", st, path("q.safetensors"), "--tensor", "^a\\.")
check(rc == 0, f"quantize safetensors: {err}")
if rc == 0:
    raw = open(path("q.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    check(h["a.weight"]["dtype"] == "F32" and h["pos"]["dtype"] == "I64", "safetensors dtypes")
    o = h["a.weight"]["data_offsets"]
    qa = np.frombuffer(data[o[0]:o[1]], np.float32).reshape(w.shape)
    check(np.array_equal(qa, nvfp4_ref(w.astype(np.float64)).astype(np.float32)), "safetensors nvfp4 values")
    o = h["pos"]["data_offsets"]
    check(data[o[0]:o[1]] == np.arange(12, dtype=np.int64).tobytes(), "untouched tensor copied")
    o = h["b.weight"]["data_offsets"]
    check(data[o[0]:o[1]] == bf16.tobytes(), "unchosen bf16 tensor copied")
    rc2, out2, _ = run("eval", "int4", "--data", path("q.safetensors"), "--json")
    check(rc2 == 0, "capmetric reads what it wrote")

# --codes: the OCP E2M1 codes (sign bit 3, then exponent and mantissa) and the E8M0 scales
E2M1 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
rc, _, err = run("quantize", "mxfp4", path("w.npy"), path("qc.npy"), "--codes", path("c.npz"))
check(rc == 0, f"quantize --codes: {err}")
if rc == 0:
    z = np.load(path("c.npz"))
    codes, scales = z["codes"], z["scales"]
    check(codes.dtype == np.uint8 and codes.shape == w.shape and scales.shape == (96, 8), "codes/scales shapes")
    b = w.astype(np.float64).reshape(-1, 32)
    amax = np.max(np.abs(b), axis=1)
    X = np.clip(np.floor(np.log2(np.where(amax > 0, amax, 1.0))) - 2, -127, 127)
    nz = amax > 0
    check(np.array_equal(scales.reshape(-1)[nz], np.exp2(X)[nz]), "E8M0 scales")
    table = np.array(E2M1 + [-v for v in E2M1])
    dec = table[codes.astype(int)] * np.repeat(scales, 32, axis=1)
    check(np.array_equal(dec.astype(np.float32), np.load(path("qc.npy"))), "decode(codes) * scale = quantize")
rc, _, err = run("quantize", "nvfp4", st, path("qs.safetensors"), "--codes", path("cs.npz"), "--tensor", "weight")
check(rc == 0, f"quantize safetensors --codes: {err}")
if rc == 0:
    z = np.load(path("cs.npz"))
    check(sorted(z.files) == ["a.weight.codes", "a.weight.scales", "b.weight.codes", "b.weight.scales"], f"npz entries {z.files}")
rc, _, err = run("quantize", "rht:dim=32+mxfp4", path("w.npy"), path("nq.npy"), "--codes", path("nc.npz"))
check(rc == 2 and "one stage" in err and not os.path.exists(path("nq.npy")) and not os.path.exists(path("nc.npz")), f"--codes of a composition: {err}")
rc, _, err = run("quantize", "int:bits=4,round=stochastic", path("w.npy"), path("nq.npy"), "--codes", path("nc.npz"))
check(rc == 2 and "stochastic" in err and not os.path.exists(path("nc.npz")), "--codes with stochastic rounding")
rc, _, err = run("quantize", "mxfp4", path("w.npy"), path("nq.npy"), "--codes", "/nonexistent/c.npz")
check(rc == 2 and "cannot write" in err and not os.path.exists(path("nq.npy")), "--codes unwritable")

# ---- bad files ---------------------------------------------------------------------------

def expect_bad(data, want, name="bad.npy", cmd="eval"):
    f = path(name)
    with open(f, "wb") as fh:
        fh.write(data)
    out = path("out_" + name)
    args = ("eval", "int4", "--data", f) if cmd == "eval" else ("quantize", "int4", f, out)
    rc, so, err = run(*args)
    ok = rc == 2 and want in err and f in err and not so and not os.path.exists(out)
    ok = ok and not any(x.startswith("out_" + name + ".tmp") for x in os.listdir(TMP))
    check(ok, f"{name} ({want}): rc {rc}, stderr {err.strip()!r}")


def npy_bytes(descr, shape, fortran=False, data=b"", version=1):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    h = d.encode() + b" " * (63 - (len(d) + 10) % 64) + b"\n"
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(h)) + h + data


good = open(path("w.npy"), "rb").read()
for cmd in ("eval", "quantize"):
    expect_bad(b"PK\x03\x04 not a tensor file at all", "neither .npy", "zip.npy", cmd)
    expect_bad(good[:9], "truncated", "trunc.npy", cmd)
    expect_bad(good[:200], "needs", "short.npy", cmd)
    expect_bad(b"\x93NUMPY\x01\x00\xff\xff{}", "claims", "hlen.npy", cmd)
    expect_bad(npy_bytes(">f4", "(2,)", data=b"\0" * 8), "big-endian", "be.npy", cmd)
    expect_bad(npy_bytes("|O", "(2,)", data=b"\0" * 16), "dtype '|O'", "obj.npy", cmd)
    expect_bad(npy_bytes("<i4", "(2,)", data=b"\0" * 8), "dtype '<i4'", "int.npy", cmd)
    expect_bad(npy_bytes("<f4", "(2, 3)", data=b"\0" * 8), "needs 24 bytes", "mismatch.npy", cmd)
    expect_bad(npy_bytes("<f4", "(4611686018427387904, 4)", data=b""), "2^62", "huge.npy", cmd)
    expect_bad(npy_bytes("<f4", "[2]", data=b"\0" * 8), "shape", "list.npy", cmd)
    expect_bad(b"\x93NUMPY\x09\x00" + good[8:], "version 9.0", "v9.npy", cmd)
    expect_bad(struct.pack("<Q", 1 << 40) + b"{}", "100 MiB", "giant.safetensors", cmd)
    expect_bad(struct.pack("<Q", 64) + b"{}", "claims", "past.safetensors", cmd)
    expect_bad(struct.pack("<Q", 8) + b"{\"a\": 1 ", "JSON", "json.safetensors", cmd)
    t = {"x": (np.zeros(4, np.float32), "F32"), "y": (np.zeros(4, np.float32), "F32")}
    for fname, fn, want in (
            ("out.safetensors", lambda h: h["x"].update(data_offsets=[0, 400]), "outside"),
            ("overlap.safetensors", lambda h: h["y"].update(data_offsets=[8, 24]), "overlap"),
            ("size.safetensors", lambda h: h["x"].update(shape=[5]), "need 20 bytes"),
            ("dtype.safetensors", lambda h: h["x"].update(dtype="F128"), "unknown dtype"),
            ("noff.safetensors", lambda h: h["x"].pop("data_offsets"), "data_offsets"),
            ("neg.safetensors", lambda h: h["x"].update(shape=[-4]), "shape entry 0")):
        data = open(write_st(fname, t, fn), "rb").read()
        expect_bad(data, want, fname, cmd)

# a regex that matches nothing, an invalid one, no float tensor
rc, out, err = run("eval", "int4", "--data", st, "--tensor", "^nothing$")
check(rc == 2 and "no float tensor matches" in err and "a.weight" in err, f"regex matches nothing: {err}")
rc, out, err = run("eval", "int4", "--data", st, "--tensor", "(")
check(rc == 2 and "not a regular expression" in err, f"bad regex: {err}")
ints = write_st("ints.safetensors", {"i": (np.arange(8, dtype=np.int32), "I32")})
rc, out, err = run("eval", "int4", "--data", ints)
check(rc == 2 and "no float tensor" in err and "I32" in err, f"no float tensor: {err}")
rc, out, err = run("eval", "int4", "--data", path("missing.npy"))
check(rc == 2 and "cannot open" in err, f"missing file: {err}")
nan = w.copy()
nan[2, 3] = np.nan
np.save(path("nan.npy"), nan)
rc, out, err = run("eval", "int4", "--data", path("nan.npy"))
check(rc == 2 and "not finite" in err and str(2 * 256 + 3) in err, f"NaN value: {err}")
# output that cannot be written, a failing quantize: nothing appears
rc, out, err = run("quantize", "int4", path("w.npy"), "/nonexistent/dir/q.npy")
check(rc == 2 and "cannot write" in err, f"unwritable output: {err}")
rc, out, err = run("quantize", "mxfp4", path("odd.npy"), path("never.npy"))
check(rc == 2 and not os.path.exists(path("never.npy")) and
      not any(x.startswith("never.npy.tmp") for x in os.listdir(TMP)), f"failed quantize left a file: {err}")
rc, out, err = run("quantize", "int4", path("w.npy"), path("w.npy"))
check(rc == 2 and "must differ" in err, "quantize onto its input")
rc, out, err = run("quantize", "int4", path("w.npy"))
check(rc == 2 and "SPEC IN OUT" in err, "quantize arguments")
rc, out, err = run("quantize", "int4", path("w.npy"), path("x.npy"), "--dtype", "int8")
check(rc == 2 and "unknown dtype" in err, "bad --dtype")
rc, out, err = run("quantize", "int4", path("w.npy"), path("x.npy"), "--dtype", "bfloat16")
check(rc == 2 and "bfloat16" in err and not os.path.exists(path("x.npy")), ".npy has no bfloat16")
rc, out, err = run("eval", "int4", "--tensor", "a")
check(rc == 2 and "go with --data" in err, "--tensor without --data")

# ---- 2-D block scales: block=RxC tiles the last two dimensions ------------------------------

def tile_ref(x, r, c):
    """int:bits=4,grid=symmetric with an exact absmax scale per r x c tile"""
    *lead, H, W = x.shape
    b = x.astype(np.float64).reshape(-1, H // r, r, W // c, c)
    amax = np.max(np.abs(b), axis=(2, 4), keepdims=True)
    s = np.where(amax > 0, amax / 7.0, 1.0)
    return (np.clip(np.round(b / s), -7, 7) * s).reshape(x.shape), s.reshape(-1, W // c)


t3 = rng.standard_normal((3, 16, 24)).astype(np.float32)
np.save(path("t3.npy"), t3)
for r, c in ((4, 8), (16, 2), (1, 24)):
    spec = f"int:bits=4,grid=symmetric,block={r}x{c}"
    rc, out, err = run("quantize", spec, path("t3.npy"), path("t3q.npy"), "--dtype", "float64",
                       "--codes", path("t3c.npz"))
    q = np.load(path("t3q.npy")) if rc == 0 else None
    ref, sref = tile_ref(t3, r, c)
    check(rc == 0 and np.array_equal(q, ref), f"{spec}: tiles differ from the reference: {err}")
    if rc == 0:
        z = np.load(path("t3c.npz"))
        sc = z["scales"] if "scales" in z.files else None
        check(sc is not None and sc.shape == sref.shape and np.array_equal(sc, sref),
              f"{spec}: scales {None if sc is None else sc.shape} against {sref.shape}")
    rc, out, err = run("eval", spec, "--data", path("t3.npy"), "--json")
    got = json.loads(out)["results"][0] if rc == 0 else {}
    mse = float(np.mean((ref - t3.astype(np.float64)) ** 2))
    check(rc == 0 and abs(got.get("mse", 0) - mse) <= 1e-12 * mse, f"{spec} eval --data: {err}")
# on i.i.d. data a tile is a block of R C values: the same exact GMSE
rc, out, err = run("eval", "int:bits=4,grid=symmetric,block=4x8", "int4_g32", "--json")
r2 = json.loads(out)["results"] if rc == 0 else []
check(len(r2) == 2 and r2[0]["gmse"] == r2[1]["gmse"] and r2[0]["method"] == "exact",
      "block=4x8 is a block of 32 on Gaussian data")
check(len(r2) == 2 and "block=4x8" in r2[0]["spec"], "canonical spec keeps the tile")
for bad, want in (("block=16x0", "is not a block"), ("block=0x4", "is not a block"),
                  ("block=64x128", "is not a block"), ("block=4y4", "is not a block")):
    rc, out, err = run("eval", f"int:bits=4,{bad}")
    check(rc == 2 and want in err, f"{bad}: {err}")
rc, out, err = run("eval", "int:bits=4,block=5x8", "--data", path("t3.npy"))
check(rc == 2 and "multiples of 5 and 8" in err, f"tile not dividing the shape: {err}")
rc, out, err = run("eval", "int:bits=4,block=4x8", "--data", path("t3.npy"), "--pad")
check(rc == 2 and "no --pad" in err, f"tiles with --pad: {err}")
np.save(path("t3f.npy"), np.asfortranarray(t3[0]))
rc, out, err = run("eval", "int:bits=4,block=4x8", "--data", path("t3f.npy"))
check(rc == 2 and "C-order" in err, f"tiles on a Fortran-order array: {err}")

print(f"tensors: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
