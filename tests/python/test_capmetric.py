"""The Python package against the command line: the same numbers to the last
digit, bit-identical quantized values, errors that name the bad input,
threads, cancellation, a large array. Run by ./dev test (pytest, Debian's
python3-pytest, -numpy, -pandas); CAPMETRIC_LIB and CAPMETRIC_CLI point at
the build."""
import json
import math
import os
import subprocess
import tempfile
import threading
import time

import numpy as np
import pytest

import capmetric as cm

CLI = os.environ.get("CAPMETRIC_CLI", "capmetric")


def cli_json(*args):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def same(a, b):
    """equal numbers (NaN for null), ignoring timings"""
    for k, v in b.items():
        if k == "seconds":
            continue
        w = a[k]
        if v is None:
            assert isinstance(w, float) and math.isnan(w), k
        elif isinstance(v, float):
            assert w == v, (k, w, v)
        else:
            assert w == v, (k, w, v)


@pytest.mark.parametrize("args", [
    (["int4", "e2m1", "nf4", "mxfp4", "nvfp4", "lloydmax:levels=16"], {}),
    (["int4", "int4+e2m1", "2:4+int4"], {"method": "mc", "samples": 1 << 18, "seed": 7}),
    (["int4", "mxfp4"], {"dist": "student:nu=5", "sigma": 0.02}),
    (["rht:dim=32+mxfp4"], {"dist": "laplace", "samples": 1 << 18, "law": "unified-olmo2"}),
])
def test_evaluate_equals_cli(args):
    specs, kw = args
    r = cm.evaluate(specs, **kw)
    flags = []
    for k, v in kw.items():
        flags += ["--" + k, str(v)]
    doc = cli_json("eval", *specs, "--json", *flags)
    assert len(r) == len(doc["results"])
    for x, y in zip(r, doc["results"]):
        same(x, y)
    for k in ("seed", "samples", "law", "dist", "sigma"):
        assert r.meta[k] == doc[k]


def test_formats_and_laws():
    f = cm.formats()
    doc = cli_json("formats", "--json")
    assert [x["name"] for x in f] == [x["name"] for x in doc["results"]]
    assert any(a["name"] == "mxfp4" for x in f for a in x["aliases"])
    assert cm.laws() == cli_json("laws", "--json")["results"]


def test_rank():
    r = cm.rank(["int4", "e2m1", "int3", "nf4"])
    assert [x.rank for x in r] == [1, 2, 3, 4]
    assert r[0].input == "int3"
    assert {x.input: x.pareto for x in r}["e2m1"] is False
    assert cm.rank(["int4", "e2m1"], by="gmse")[0].input == "int4"
    m = cm.rank(["mxfp4", "int:bits=4,block=32,round=stochastic", "int4"], by="misalignment")
    assert [x.input for x in m] == ["int:bits=4,block=32,round=stochastic", "int4", "mxfp4"]
    assert m[0].misalignment == 0 and m[2].misalignment > 0.019
    with pytest.raises(ValueError):
        cm.rank(["int4"], by="speed")


def test_to_pandas():
    df = cm.evaluate(["int4", "mxfp4"]).to_pandas()
    assert df["gmse"].dtype == np.float64 and df["scale"].dtype == np.float64
    assert math.isnan(df.loc[1, "scale"])  # block formats have no global scale: null -> NaN
    assert list(df["input"]) == ["int4", "mxfp4"]


def test_spec_error():
    with pytest.raises(cm.SpecError) as e:
        cm.evaluate(["int4", "int:bits=0"])
    assert e.value.index == 1 and e.value.spec == "int:bits=0" and e.value.position == 9
    p = subprocess.run([CLI, "eval", "int4", "int:bits=0"], capture_output=True, text=True)
    assert str(e.value) in p.stderr
    with pytest.raises(cm.SpecError):
        cm.mse("nvpf4", np.zeros(16, np.float32))


def test_errors():
    with pytest.raises(cm.CapmetricError, match="unknown law"):
        cm.evaluate("int4", law="nope")
    with pytest.raises(cm.CapmetricError, match="sigma"):
        cm.evaluate("int4", sigma=-1)
    with pytest.raises(cm.CapmetricError, match="nu must be above 2"):
        cm.evaluate("int4", dist="student:nu=2")
    with pytest.raises(cm.CapmetricError, match="not a multiple"):
        cm.mse("mxfp4", np.zeros((2, 30), np.float32))
    with pytest.raises(TypeError):
        cm.mse("int4", np.zeros(4, np.int32))


def test_arrays_equal_cli():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((48, 256)) * 0.02).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x.npy"), x)
        for spec in ("mxfp4", "nvfp4", "int4_g32", "int4", "rht:dim=32+mxfp4"):
            doc = cli_json("eval", spec, "--data", os.path.join(d, "x.npy"), "--json")
            s = cm.mse(spec, x)
            for k in ("mse", "nmse", "eff_bits", "misalignment", "values"):
                assert s[k] == doc["results"][0][k], (spec, k)
            out = os.path.join(d, "q.npy")
            subprocess.run([CLI, "quantize", spec, os.path.join(d, "x.npy"), out], check=True)
            q = cm.quantize(spec, x)
            assert q.dtype == np.float32 and q.shape == x.shape
            assert np.array_equal(q.view(np.uint32), np.load(out).view(np.uint32)), spec
    # Fortran order, float16 and float64, any shape
    assert cm.mse("mxfp4", np.asfortranarray(x)).mse == cm.mse("mxfp4", x).mse
    assert cm.quantize("mxfp4", x.astype(np.float16), dtype="float16").dtype == np.float16
    assert cm.mse("int4", x.astype(np.float64).reshape(2, 3, 8, 256)).values == x.size
    assert cm.mse("mxfp4", x[:, :250], pad=True).padded == 48 * 6


def test_threads():
    want = cm.evaluate(["int4", "mxfp4"], method="mc", samples=1 << 18)
    got = []

    def work():
        got.append(cm.evaluate(["int4", "mxfp4"], method="mc", samples=1 << 18, threads=1))

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(got) == 4
    for g in got:
        assert [x.gmse for x in g] == [x.gmse for x in want]


def test_cancel():
    """a long Monte-Carlo run stops when canceled (what Ctrl-C does)"""
    def later():
        time.sleep(0.3)
        cm._lib.cm_cancel_request()
    threading.Thread(target=later).start()
    t0 = time.time()
    with pytest.raises(KeyboardInterrupt):
        cm.evaluate("int4", method="mc", samples=1 << 36)
    assert time.time() - t0 < 30
    assert cm.evaluate("int4")[0].gmse > 0  # and it works afterwards


def test_large_array():
    x = np.random.default_rng(1).standard_normal(1 << 24).astype(np.float32).reshape(-1, 4096)
    r = cm.mse("mxfp4", x)
    assert r.values == 1 << 24 and abs(r.nmse - 0.0132) < 5e-4


RUNS = os.path.join(os.path.dirname(__file__), "..", "..", "data", "runs")


@pytest.mark.parametrize("args", [
    (["int4", "mxfp4", "nvfp4"], {"params": 1e9, "tokens": 2e10}),
    (["int4", "nf4"], {"params": 3e8, "tokens": 6e9, "law": "unified-quest", "memory": 4e9}),
    (["e2m1"], {"params": 1e8, "tokens": 2e9, "law": "quest"}),
    (["int8", "mxfp4"], {"params": 7e10, "tokens": 1.5e13, "tensors": "w"}),
])
def test_predict_equals_cli(args):
    specs, kw = args
    r = cm.predict(specs, **kw)
    flags = []
    for k, v in kw.items():
        flags += ["--" + k, str(v)]
    doc = cli_json("predict", *specs, "--json", *flags)
    assert len(r) == len(doc["results"]) >= len(specs)
    for x, y in zip(r, doc["results"]):
        same(x, y)
    for k in ("params", "tokens", "memory_bits", "iso_memory_best"):
        assert r.meta[k] == doc[k]
    assert r.to_pandas()["rho"].dtype == float


def test_predict_errors():
    with pytest.raises(cm.SpecError) as e:
        cm.predict(["int4", "int:bitz=4"], params=1e9, tokens=2e10)
    assert e.value.index == 1 and "bitz" in str(e.value)
    with pytest.raises(cm.CapmetricError, match="'params'"):
        cm.predict("int4", params=-1, tokens=2e10)
    with pytest.raises(cm.CapmetricError, match="law"):
        cm.predict("int4", params=1e9, tokens=2e10, law="no-such-law")
    with pytest.raises(cm.CapmetricError, match="tensors|'x'"):
        cm.predict("int4", params=1e9, tokens=2e10, tensors="x")


def test_predict_intervals_warnings_vs():
    r = cm.predict(["nvfp4", "mxfp4"], params=7e10, tokens=1.5e13, law="unified-quartet2",
                   vs="bf16", ci=0.5)
    assert len(r) == 3 and r.meta["interval"] == 0.5
    for x in r:
        assert x["loss_lo"] <= x["loss"] <= x["loss_hi"]
        assert any("345x the largest N" in w for w in x["warnings"])
    assert r[0]["loss_diff"] > 0 and r[0]["iso_loss_diff"] < 0  # worse at equal N, better at equal memory
    assert r[0]["loss_diff_lo"] <= r[0]["loss_diff"] <= r[0]["loss_diff_hi"]
    assert "at equal memory" in r.meta["vs_verdict"]
    wide = cm.predict("nvfp4", params=7e10, tokens=1.5e13, law="unified-quartet2")
    assert wide[0]["loss_hi"] - wide[0]["loss_lo"] > r[0]["loss_hi"] - r[0]["loss_lo"]
    with pytest.raises(cm.CapmetricError, match="'ci'"):
        cm.predict("int4", params=1e9, tokens=2e10, ci=2)


def _fit_same(f, doc):
    same(f.doc["fit"], doc["fit"])
    src = f.law["source"]
    assert {**f.law, "source": doc["law"]["source"]} == doc["law"]
    assert src == doc["law"]["source"] or src.endswith("of a pandas DataFrame (104 runs)")
    assert f.values == {k: (float("nan") if v is None else v)
                        for k, v in doc["fit"]["values"].items()}


def test_fit_equals_cli_and_saves():
    path = os.path.join(RUNS, "quest_runs.csv")
    f = cm.fit(path, "decoupled", preset="quest", name="q")
    doc = cli_json("fit", path, "--mode", "decoupled", "--preset", "quest", "--name", "q",
                   "--json")
    _fit_same(f, doc)
    assert f.points == doc["fit"]["points"] == 104 and f.rmse > 0
    assert list(f.to_pandas()["name"])[:5] == ["A", "alpha", "B", "beta", "E"]


def test_fit_dataframe_bootstrap_and_columns():
    import pandas as pd
    path = os.path.join(RUNS, "quest_runs.csv")
    df = pd.read_csv(path, float_precision="round_trip")  # the default parser may move the last digit
    f = cm.fit(df, "unified", columns={"specs": os.path.join(RUNS, "quest_specs.csv")},
               bootstrap=20, seed=3, starts=40)
    doc = cli_json("fit", path, "--mode", "unified", "--specs",
                   os.path.join(RUNS, "quest_specs.csv"), "--bootstrap", "20", "--seed", "3",
                   "--starts", "40", "--json")
    _fit_same(f, doc)
    assert all(math.isfinite(p["boot_lo"]) and p["boot_lo"] <= p["value"] <= p["boot_hi"]
               for p in f.params if p["determined"])
    with tempfile.TemporaryDirectory() as d:
        law = f.save(os.path.join(d, "u.json"), name="u")
        p = cm.predict(["int4", "nf4"], params=1e9, tokens=2e10, law=law)
        q = cli_json("predict", "int4", "nf4", "--params", "1e9", "--tokens", "2e10", "--law",
                     law, "--json")
        for x, y in zip(p, q["results"]):
            same(x, y)
        assert p[0]["law"] == "u" and 0 < p[0]["rho"] < 1


def test_fit_errors():
    with pytest.raises(cm.CapmetricError, match="no-such.csv"):
        cm.fit("no-such.csv")
    with pytest.raises(cm.CapmetricError, match="mode"):
        cm.fit(os.path.join(RUNS, "quest_runs.csv"), "sideways")
    with pytest.raises(cm.CapmetricError, match="column role"):
        cm.fit(os.path.join(RUNS, "quest_runs.csv"), columns={"lable": "x"})
    with pytest.raises(cm.CapmetricError, match="no column 'nope'"):
        cm.fit(os.path.join(RUNS, "quest_runs.csv"), columns={"label": "nope"})
    with pytest.raises(cm.CapmetricError, match="fixed"):
        cm.fit(os.path.join(RUNS, "quest_runs.csv"), fixed=[1, 2, 3])
