#!/usr/bin/python3
"""NVFP4 vs MXFP4 vs NF4 (and INT4 with 32-value blocks): GMSE, rho and rho
per bit from capmetric, on Gaussian data and on heavy-tailed Student-t data,
with a bar chart if matplotlib is installed.

    PYTHONPATH=python python3 examples/python/compare_formats.py
"""
import capmetric

specs = ["nvfp4", "mxfp4", "nf4", "int4_g32", "rht:dim=32+mxfp4"]
for dist in ("gauss", "student:nu=5"):
    df = capmetric.evaluate(specs, dist=dist, samples=1 << 22).to_pandas()
    print(f"\n{dist}:")
    print(df[["input", "bits", "method", "gmse", "rho", "rho_per_bit"]].to_string(index=False))

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("\n(matplotlib is not installed: no chart)")
else:
    df = capmetric.evaluate(specs).to_pandas()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(df["input"], df["rho"])
    ax.set_ylabel("rho (unified-llama-c4)")
    ax.set_title("Effective-parameter multiplier, N(0,1) data")
    fig.tight_layout()
    fig.savefig("compare_formats.png", dpi=120)
    print("\nwrote compare_formats.png")
