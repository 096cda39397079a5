#!/usr/bin/python3
"""Quartet II's cell-2 table, recomputed on the CPU from what its kernels do.

Quartet II (Panferov et al., arXiv 2601.22813) prints, in
IST-DASLab/Quartet-II notebooks/unbiasedness.ipynb (1a4c53f) cell 2, MSE, rate
and magnitude misalignment of NVFP4 with E4M3 block scales under three
roundings (RTN, SR, EDEN). The notebook runs them on a GPU through the Triton
kernels of src/models/quantization/quantizers/nvfp4_triton.py (1d0c0fb, called
from eden.py at c4e1ad7). This script re-does the same arithmetic in float32
numpy, written here from reading those kernels, so that capmetric's numbers
(tests/anchors/quartet2_gaussian.json) can be told apart from the notebook's
statistic and the kernels' own choices:

  * data: rows of 128 N(0, 1) values, row i scaled by 2^(8 i / rows), rotated
    by a 128-point Hadamard transform, quantized, rotated back;
  * tensor scale from the signed maximum (torch.amax), mapping the largest
    block to 447.99 (RTN, SR) or 255.99 (EDEN);
  * block scale absmax / (6 / (17/16 * override)) rounded to E4M3
    (round-to-nearest-even, a zero code replaced by 1); E2M1 rounding with
    ties away from zero (RTN) or stochastic between neighbours (SR);
  * EDEN: per 128 values the factor <u,u> / <u,q> on the block-scaled values
    u = x / s_j (mode 'eden', as the kernel) or on the values themselves
    (mode 'eden_values', the EDEN definition), the corrected E4M3 scale then
    rounded stochastically to a neighbouring code;
  * MSE and misalignment averaged per 128-value row, as the notebook does;
  * the FP32/128 and E8M0/32 rows the notebook has commented out, by eden.py's
    PyTorch path (scale absmax / 6 * override, or 2^floor(log2 absmax) / 3 *
    override; E8M0 corrections rounded stochastically between powers of two).

Usage: tools/quartet2_kernels.py [ROWS [SEED]] [--capmetric build/capmetric]
(ROWS default 2^18; 2^20 is the notebook's size and needs about 8 GB). With
--capmetric, the same rotated values also go through `capmetric quantize` with
each row's capmetric spelling, and the same per-row statistics are printed
beside: the two implementations on identical data (tests/data/
test_quartet2_kernels.py does the same on 2^12 rows; the README and the
anchors quote its full-size output, "Bias and the 2026 block variants").
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

F = np.float32


def binade(a):
    """floor(log2 a) for a > 0, exactly (np.log2 rounds 0.25 - 1 ulp to -2)"""
    return np.frexp(a)[1] - 1


def e4m3_round(v):
    """round-to-nearest-even onto E4M3 (positive v), saturating at 448"""
    a = v.astype(np.float64)
    step = np.ldexp(1.0, np.maximum(binade(np.maximum(a, 2.0 ** -6)), -6) - 3)
    return np.minimum(np.rint(a / step) * step, 448.0).astype(F)


def e4m3_neighbour(v, up):
    """the next E4M3 code above (up) or below a positive code v"""
    a = v.astype(np.float64)
    e = binade(np.maximum(a, 2.0 ** -6))
    if not up:  # below a power of two the spacing is that of the binade below
        e = np.where(np.frexp(a)[0] == 0.5, e - 1, e)
    step = np.ldexp(1.0, np.maximum(e, -6) - 3)
    return (a + step if up else a - step).astype(F)


def hadamard(n):
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return (h / np.sqrt(n)).astype(F)


E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], dtype=F)
MIDS = (E2M1[1:] + E2M1[:-1]) / 2


def rtn(u):
    # a midpoint goes up: the kernels compare with >=
    return E2M1[np.searchsorted(MIDS, np.abs(u), side="right")] * np.sign(u)


def sr(u, rng):
    a = np.minimum(np.abs(u), F(6))
    hi = np.minimum(np.searchsorted(E2M1, a, side="right"), 7)
    lo = E2M1[hi - 1]
    top = E2M1[hi]
    p = (a - lo) / (top - lo)
    return np.where(rng.random(a.shape, dtype=F) < p, top, lo) * np.sign(u)


def quantize(xh, mode, override, rng, group=16, vec=128):
    top = F(255.99 if mode.startswith("eden") else 447.99)
    val_max = F(6.0) / F(17 / 16 * override)
    s_dec = xh.max() / top / val_max
    g = xh.reshape(-1, group)
    code = e4m3_round(np.abs(g).max(axis=1, keepdims=True) / val_max / s_dec)
    code = np.where(code == 0, F(1), code)
    u = g / (code * s_dec)
    if mode == "rtn":
        return (rtn(u) * code * s_dec).reshape(-1)
    if mode == "sr":
        return (sr(u, rng) * code * s_dec).reshape(-1)
    q = rtn(u)
    w = u if mode == "eden" else u * code  # values in units of s_dec
    qq = q if mode == "eden" else q * code
    w, qq = w.reshape(-1, vec), qq.reshape(-1, vec)
    num, den = (w * w).sum(1, keepdims=True), (w * qq).sum(1, keepdims=True)
    c = np.where(den == 0, F(1), num / np.where(den == 0, F(1), den))
    target = (code.reshape(-1, vec // group) * c).reshape(-1, 1).astype(F)
    near = e4m3_round(target)
    up = np.where(near > target, near, e4m3_neighbour(near, True))
    down = np.where(near > target, e4m3_neighbour(near, False), near)
    p = (target - down) / (up - down)
    scale = np.where(rng.random(p.shape, dtype=F) < p, up, down)
    return (q * scale * s_dec).reshape(-1)


def quantize_torch(xh, scale_dtype, mode, override, rng, vec=128):
    """eden.py's PyTorch path (round_scales, rtn_fp4, sr_fp4, apply_correction),
    which the notebook's commented-out FP32/128 and E8M0/32 rows would run"""
    group = 128 if scale_dtype == "fp32" else 32
    g = xh.reshape(-1, group)
    amax = np.abs(g).max(axis=1, keepdims=True)
    if scale_dtype == "fp32":
        scales, glob = amax, F(1 / 6 * override)
    else:
        scales, glob = np.ldexp(F(1), binade(amax)).astype(F), F(1 / 3 * override)
    u = g / scales / glob
    if mode == "sr":
        return (sr(u, rng) * scales * glob).reshape(-1)
    q = rtn(np.clip(u, -6, 6))
    if mode == "rtn":
        return (q * scales * glob).reshape(-1)
    w, qq = u.reshape(-1, vec), q.reshape(-1, vec)  # the ratio on x_scaled, as eden.py
    c = (w * w).sum(1, keepdims=True) / (w * qq).sum(1, keepdims=True)
    target = (scales.reshape(-1, vec // group) * c).reshape(-1, 1).astype(F)
    if scale_dtype == "e8m0":
        low = np.ldexp(F(1), binade(target)).astype(F)
        target = np.where(rng.random(low.shape, dtype=F) < (target - low) / low, 2 * low, low)
    return (q * target * glob).reshape(-1)


# capmetric's spelling of each row (README, "Bias and the 2026 block variants")
SPECS = {
    ("e4m3", "rtn"): "nvfp4:tensor_top=447.99,scale_mult=0.988125",
    ("e4m3", "sr"): "nvfp4:tensor_top=447.99,scale_mult=1.0625,round=stochastic",
    ("e4m3", "eden"): "nvfp4:tensor_top=255.99,scale_mult=0.988125,correct=eden_scaled,eden_group=128",
    ("e4m3", "eden_values"): "nvfp4:tensor_top=255.99,scale_mult=0.988125,correct=eden,eden_group=128",
    ("fp32", "rtn"): "fp:e=2,m=1,block=128,scale_fmt=fp32,scale_mult=0.96",
    ("fp32", "sr"): "fp:e=2,m=1,block=128,scale_fmt=fp32,round=stochastic",
    ("fp32", "eden"): "fp:e=2,m=1,block=128,scale_fmt=fp32,scale_mult=0.96,correct=eden",
    ("e8m0", "rtn"): "fp:e=2,m=1,block=32,scale_fmt=e8m0,scale=floor,scale_mult=1.12",
    ("e8m0", "sr"): "fp:e=2,m=1,block=32,scale_fmt=e8m0,scale=floor,scale_mult=1.3333333333333333,"
                    "round=stochastic",
    ("e8m0", "eden"): "fp:e=2,m=1,block=32,scale_fmt=e8m0,scale=floor,scale_mult=1.2133333333333334,"
                      "correct=eden_scaled,eden_group=128",
}


def capmetric_quantize(binary, spec, xh, tmp):
    """the same rotated values through `capmetric quantize SPEC`"""
    src, dst = os.path.join(tmp, "xh.npy"), os.path.join(tmp, "q.npy")
    if not os.path.exists(src):
        np.save(src, xh.reshape(-1, 128))
    subprocess.run([binary, "quantize", spec, src, dst, "--quiet"], check=True)
    return np.load(dst).reshape(-1)


def stats(x, dq, xx):
    e = ((x - dq) ** 2).sum(1) / xx
    al = (x * dq).sum(1) / xx
    n = np.sqrt(x.shape[0])
    return (f"{e.mean() * 1e3:.4f} ± {e.std() / n * 1e3:.4f} | {-np.log2(e.mean()) / 2:.4f} | "
            f"{1 - al.mean():.6f} ± {al.std() / n:.6f}")


def main():
    args = sys.argv[1:]
    binary = None
    if "--capmetric" in args:
        i = args.index("--capmetric")
        binary = args[i + 1]
        del args[i:i + 2]
    rows = int(args[0]) if args else 2 ** 18
    rng = np.random.default_rng(int(args[1]) if len(args) > 1 else 1)
    h = hadamard(128)
    x = rng.standard_normal((rows, 128), dtype=F) * np.logspace(0, 8, rows, base=2).astype(F)[:, None]
    xh = (x @ h.T).reshape(-1)
    xx = (x * x).sum(1)
    print(f"{rows} rows of 128 values; per row MSE, rate, misalignment (script" +
          (", then capmetric quantize on the same values)" if binary else ")"))
    cols = "| MSE x 1e3 | rate, bits | misalignment "
    print("| scales | rounding | override " + cols + (cols + "| capmetric spec " if binary else "") + "|")
    print("|---" * (10 if binary else 6) + "|")
    runs = [("e4m3", m, o) for m, o in (("rtn", 0.93), ("sr", 1.0), ("eden", 0.93), ("eden_values", 0.93))]
    runs += [(sd, m, o[sd]) for sd in ("fp32", "e8m0") for m, o in
             (("rtn", {"fp32": 0.96, "e8m0": 0.84}), ("sr", {"fp32": 1.0, "e8m0": 1.0}),
              ("eden", {"fp32": 0.96, "e8m0": 0.91}))]
    with tempfile.TemporaryDirectory() as tmp:
        for sd, mode, override in runs:
            dq = (quantize(xh, mode, override, rng) if sd == "e4m3" else
                  quantize_torch(xh, sd, mode, override, rng)).reshape(-1, 128) @ h
            line = f"| {sd} | {mode} | {override} | {stats(x, dq, xx)} |"
            if binary:
                spec = SPECS[(sd, mode)]
                cq = capmetric_quantize(binary, spec, xh, tmp).reshape(-1, 128).astype(F) @ h
                line += f" {stats(x, cq, xx)} | `{spec}` |"
            print(line)


if __name__ == "__main__":
    main()
