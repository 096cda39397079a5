"""capmetric: how much model capacity a compressed number format keeps.

A thin layer over the C library libcapmetric (through ctypes: nothing to
compile). Every number is the library's own, as `capmetric eval --json`
prints it.

    >>> import capmetric
    >>> r = capmetric.evaluate(["int4", "mxfp4", "nvfp4"])
    >>> r.to_pandas()[["input", "bits", "gmse", "rho"]]

Functions: formats(), laws(), evaluate(), rank(), mse(), quantize(),
predict(), fit() (a Fit: the fitted law with its uncertainty, .save()).
Errors: SpecError (a bad spec: .spec, .index, .position) and CapmetricError
(everything else). The library is found through $CAPMETRIC_LIB, then next to
an in-tree build (build/libcapmetric.so), then where `./dev install` puts it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
import os
import threading
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

__all__ = ["formats", "laws", "evaluate", "rank", "mse", "quantize", "predict", "fit", "Fit",
           "Result", "Results", "SpecError", "CapmetricError", "library_path", "version"]


class CapmetricError(Exception):
    """A failure reported by libcapmetric: .status (the library's status
    name) and the library's message."""

    def __init__(self, message: str, status: str = "error"):
        super().__init__(message)
        self.status = status


class SpecError(CapmetricError, ValueError):
    """A spec that does not parse: .spec (its text), .index (0-based, in the
    list given), .position and .length (the offending characters), and the
    message the command line prints."""

    def __init__(self, message: str, spec: str, index: int, position: int, length: int):
        super().__init__(message, "spec")
        self.spec, self.index, self.position, self.length = spec, index, position, length


# ---- the library ---------------------------------------------------------------------------

class _Diag(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("pos", ctypes.c_long), ("len", ctypes.c_long),
                ("line", ctypes.c_long), ("col", ctypes.c_long), ("key", ctypes.c_char * 64),
                ("msg", ctypes.c_char * 768)]


_STATUS = ["ok", "invalid", "memory", "parse", "not-found", "range", "io", "abi", "plugin",
           "numeric", "unsupported", "duplicate", "canceled"]


def _candidates() -> List[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    if os.environ.get("CAPMETRIC_LIB"):
        out.append(os.environ["CAPMETRIC_LIB"])
    for b in ("build", "build-san"):
        out.append(os.path.join(here, "..", "..", b, "libcapmetric.so"))
    # installed with ./dev install PREFIX: PREFIX/lib/python3.X/dist-packages/capmetric
    prefix = os.path.abspath(os.path.join(here, "..", "..", "..", ".."))
    for d in ("lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "lib64", "lib"):
        out.append(os.path.join(prefix, d, "libcapmetric.so.0"))
    found = ctypes.util.find_library("capmetric")
    if found:
        out.append(found)
    for d in ("/usr/local/lib/x86_64-linux-gnu", "/usr/local/lib", "/usr/lib/x86_64-linux-gnu",
              "/usr/lib"):
        out.append(os.path.join(d, "libcapmetric.so.0"))
    return out


def _load():
    errors = []
    for path in _candidates():
        if not os.path.exists(path) and os.sep in path:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
            continue
        lib.cm_api_eval.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                    ctypes.POINTER(_Diag)]
        lib.cm_api_formats.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                       ctypes.POINTER(_Diag)]
        lib.cm_api_laws.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_Diag)]
        lib.cm_api_array.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                     ctypes.POINTER(ctypes.c_uint64), ctypes.c_int, ctypes.c_void_p,
                                     ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                     ctypes.POINTER(_Diag)]
        for f in ("cm_api_predict", "cm_api_fit"):
            getattr(lib, f).argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                        ctypes.POINTER(_Diag)]
        lib.cm_api_free.argtypes = [ctypes.c_void_p]
        lib.cm_version.restype = ctypes.c_char_p
        for f in ("cm_api_eval", "cm_api_formats", "cm_api_laws", "cm_api_array",
                  "cm_api_predict", "cm_api_fit"):
            getattr(lib, f).restype = ctypes.c_int
        return lib, path
    raise ImportError("capmetric: libcapmetric not found (set CAPMETRIC_LIB, build with "
                      "./dev build, or install with ./dev install)" +
                      ("; " + "; ".join(errors) if errors else ""))


_lib, library_path = _load()


def version() -> str:
    """The library's version."""
    return _lib.cm_version().decode()


def _raise(st: int, d: _Diag, specs: Optional[Sequence[str]] = None) -> None:
    name = _STATUS[st] if 0 <= st < len(_STATUS) else str(st)
    msg = d.msg.decode(errors="replace") or name
    if specs is not None and d.line >= 1 and d.line <= len(specs) and st != 12:
        i = d.line - 1
        raise SpecError(f"spec {i + 1}: {msg}", specs[i], i, d.pos, d.len)
    if st == 12:
        raise KeyboardInterrupt
    raise CapmetricError(msg, name)


def _call(fn, args, specs=None) -> str:
    """Call fn(*args, &out, &diag) on a worker thread (ctypes releases the
    GIL), so that Ctrl-C in the main thread cancels a long run cleanly."""
    out = ctypes.c_void_p()
    d = _Diag()
    box: Dict[str, int] = {}

    def work():
        box["st"] = fn(*args, ctypes.byref(out), ctypes.byref(d))

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.05)
    except KeyboardInterrupt:
        _lib.cm_cancel_request()
        t.join()
        if out.value:
            _lib.cm_api_free(out)
        raise
    st = box.get("st", 1)
    if st != 0:
        _raise(st, d, specs)
    try:
        return ctypes.string_at(out.value).decode()
    finally:
        _lib.cm_api_free(out)


# ---- results -----------------------------------------------------------------------------

class Result(dict):
    """One result: the fields of `capmetric eval --json` (spec, input, bits,
    method, gmse, gmse_se, rho, ...), by key or attribute; a field wins over
    a dict method of the same name (r.values is the field of mse()).
    Missing numbers (JSON null) are NaN."""

    def __getattribute__(self, k: str) -> Any:
        if not k.startswith("_") and dict.__contains__(self, k):
            return dict.__getitem__(self, k)
        return dict.__getattribute__(self, k)

    def __getattr__(self, k: str) -> Any:
        raise AttributeError(k)


def _nan(v):
    return float("nan") if v is None else v


class Results(Sequence[Result]):
    """A sequence of Result, with the document's settings in .meta (seed,
    samples, law, method, dist, sigma)."""

    def __init__(self, rows: List[dict], meta: Optional[dict] = None):
        self._rows = [Result({k: _nan(v) for k, v in r.items()}) for r in rows]
        self.meta = meta or {}

    def __getitem__(self, i):  # type: ignore[override]
        return self._rows[i]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Result]:
        return iter(self._rows)

    def __repr__(self) -> str:
        return f"Results({[r.get('input', r.get('spec')) for r in self._rows]})"

    def to_records(self) -> List[dict]:
        """The results as plain dicts."""
        return [dict(r) for r in self._rows]

    def to_pandas(self):
        """A pandas DataFrame, one row per result; numeric columns stay float
        (NaN and inf where the library writes null or infinity). pandas is
        imported here, not before."""
        import pandas as pd
        rows = []
        for r in self._rows:
            rows.append({k: (", ".join(v) if isinstance(v, list) else v) for k, v in r.items()})
        return pd.DataFrame(rows)


# ---- functions -----------------------------------------------------------------------------

def formats(plugins: Sequence[str] = ()) -> List[dict]:
    """The families (name, summary, origin, scalar, exact, codec, params)
    and, as families[i]['aliases'], the aliases that expand to them; as
    `capmetric formats --json` gives them."""
    req = json.dumps({"plugins": list(plugins)}).encode()
    doc = json.loads(_call(_lib.cm_api_formats, (req,)))
    fams = doc["results"]
    for f in fams:
        f["aliases"] = [a for a in doc["aliases"] if a["family"] == f["name"]]
    return fams


def laws() -> List[dict]:
    """The built-in capacity laws (name, form, inputs, source, gmse_map)."""
    return json.loads(_call(_lib.cm_api_laws, ()))["results"]


def _specs(specs: Union[str, Iterable[str]]) -> List[str]:
    return [specs] if isinstance(specs, str) else list(specs)


def _eval_request(specs: List[str], samples: int, seed: int, method: str, law: Optional[str],
                  dist: str, sigma: float, threads: Optional[int],
                  plugins: Sequence[str]) -> dict:
    req = {"specs": specs, "samples": int(samples), "seed": int(seed), "method": method,
           "dist": dist, "sigma": float(sigma), "plugins": list(plugins)}
    if law is not None:
        req["law"] = law
    if threads is not None:
        req["threads"] = int(threads)
    return req


def evaluate(specs: Union[str, Iterable[str]], *, samples: int = 1 << 24, seed: int = 1,
             method: str = "auto", law: Optional[str] = None, dist: str = "gauss",
             sigma: float = 1.0, threads: Optional[int] = None,
             plugins: Sequence[str] = ()) -> Results:
    """GMSE, bits, eff_bits, rho and rho_per_bit of each spec: exactly what
    `capmetric eval --json` prints for the same arguments.

    specs: one spec or a list ("int4", "fp:e=2,m=1", "rht:dim=32+mxfp4").
    samples, seed: Monte Carlo (where no exact path exists, or method="mc").
    method: "auto" (exact where possible), "exact" or "mc".
    law: a built-in law name or "file:PATH" (default unified-llama-c4).
    dist, sigma: the data ("gauss", "laplace", "logistic", "student:nu=V",
    "uniform") and its standard deviation. threads: None = all cores."""
    sp = _specs(specs)
    req = _eval_request(sp, samples, seed, method, law, dist, sigma, threads, plugins)
    doc = json.loads(_call(_lib.cm_api_eval, (json.dumps(req).encode(),), sp))
    meta = {k: v for k, v in doc.items() if k != "results"}
    return Results(doc["results"], meta)


_RANK_KEYS = {"rho_per_bit": True, "rho": True, "gmse": False, "bits": False,
              "misalignment": False}


def _rank_value(x, by):
    """the sort value: misalignment by its size, unknown (None/NaN) last"""
    if by != "misalignment":
        return x[by]
    m = x.get("misalignment")
    return math.inf if m is None or m != m else abs(m)


def rank(specs: Union[str, Iterable[str]], by: str = "rho_per_bit", **kw) -> Results:
    """evaluate(), sorted best first by `by` (rho_per_bit, rho: higher is
    better; gmse, bits, |misalignment|: lower is better), each result with its 1-based
    'rank' and 'pareto' (no other result has both fewer bits and a lower
    GMSE). Keyword arguments are those of evaluate()."""
    if by not in _RANK_KEYS:
        raise ValueError(f"by={by!r} is not accepted (accepted: {', '.join(_RANK_KEYS)})")
    r = evaluate(specs, **kw)
    rows = sorted(r, key=lambda x: _rank_value(x, by), reverse=_RANK_KEYS[by])
    for i, x in enumerate(rows):
        x["rank"] = i + 1
        x["pareto"] = not any(y["bits"] <= x["bits"] and y["gmse"] < x["gmse"] and
                              (y["bits"] < x["bits"] or y["gmse"] < x["gmse"]) for y in rows
                              if y is not x)
    out = Results([], r.meta)
    out._rows = rows
    return out


def _array_call(spec: str, array, out_dtype: Optional[str], pad: bool, seed: int,
                threads: Optional[int], dist: str, plugins: Sequence[str]):
    import numpy as np
    codes = {np.dtype("float16"): 0, np.dtype("float32"): 2, np.dtype("float64"): 3}
    a = np.asarray(array)
    if a.dtype not in codes:
        raise TypeError(f"capmetric reads float16, float32 and float64 arrays, not {a.dtype}")
    a = a.newbyteorder("<") if a.dtype.byteorder == ">" else a
    fortran = bool(a.flags.f_contiguous and not a.flags.c_contiguous)
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        a = np.ascontiguousarray(a)
    shape = (ctypes.c_uint64 * max(a.ndim, 1))(*a.shape)
    out = None
    if out_dtype is not None:
        out = np.empty(a.shape, dtype=out_dtype, order="F" if fortran else "C")
        if out.dtype not in codes:
            raise TypeError(f"dtype {out_dtype} is not float16, float32 or float64")
    req = {"spec": spec, "seed": int(seed), "pad": bool(pad), "dist": dist,
           "plugins": list(plugins)}
    if threads is not None:
        req["threads"] = int(threads)
    args = (json.dumps(req).encode(), a.ctypes.data_as(ctypes.c_void_p), codes[a.dtype], a.ndim,
            shape, int(fortran),
            out.ctypes.data_as(ctypes.c_void_p) if out is not None else None,
            codes[out.dtype] if out is not None else 3)
    stats = json.loads(_call(_lib.cm_api_array, args, [spec]))
    return Result({k: _nan(v) for k, v in stats.items()}), out


def mse(spec: str, array, *, pad: bool = False, seed: int = 1, threads: Optional[int] = None,
        dist: str = "gauss", plugins: Sequence[str] = ()) -> Result:
    """The error of spec on a NumPy array (float16/32/64, any shape; blocks
    along the last axis): values, padded, mse (in the array's units), nmse,
    eff_bits, misalignment, rms; as `capmetric eval --data` computes them.
    pad: fill rows with zeros to a multiple of the block."""
    return _array_call(spec, array, None, pad, seed, threads, dist, plugins)[0]


def quantize(spec: str, array, *, dtype: str = "float32", pad: bool = False, seed: int = 1,
             threads: Optional[int] = None, dist: str = "gauss",
             plugins: Sequence[str] = ()):
    """The dequantized values of a NumPy array under spec, same shape
    (blocks along the last axis), as dtype: bit-identical with `capmetric
    quantize`."""
    return _array_call(spec, array, dtype, pad, seed, threads, dist, plugins)[1]


def predict(specs: Union[str, Iterable[str]], *, params: float, tokens: float,
            law: Optional[str] = None, tensors: str = "w,a", memory: Optional[float] = None,
            ci: Optional[float] = None, vs: Optional[str] = None, samples: int = 1 << 24, seed: int = 1, method: str = "auto", dist: str = "gauss",
            sigma: float = 1.0, threads: Optional[int] = None,
            plugins: Sequence[str] = ()) -> Results:
    """What the capacity laws say of each format for a model of `params`
    parameters trained on `tokens` tokens: one result per (spec, law) with
    rho, rho_d, n_eff, loss, loss_base, gap, and the iso-memory comparison
    (iso_params, iso_n_eff, iso_loss at `memory` bits; default 16 * params,
    the BF16 model's memory); a law that cannot judge a format says why in
    'refused'. As `capmetric predict --json` prints it; .meta holds params,
    tokens, memory_bits and iso_memory_best (the best format per law).

    law: one law (a built-in name or "file:PATH", e.g. a Fit's .save());
    None = every built-in law. tensors: which tensors are compressed
    ("w", "w,a", "w,a,kv,g"). Each result has 'warnings' (outside the law's runs,
    ignored options, undetermined constants) and, for laws with bootstrap
    replicates, loss_lo/loss_hi and rho_lo/rho_hi at level `ci` (default 0.9).
    vs: a reference spec, judged last; every result then has loss_diff (with
    loss_diff_lo/hi) and iso_loss_diff, and .meta['vs_verdict'] sums them up.
    The other arguments are those of evaluate()."""
    sp = _specs(specs)
    req = _eval_request(sp, samples, seed, method, law, dist, sigma, threads, plugins)
    req.update({"params": float(params), "tokens": float(tokens), "tensors": tensors})
    if memory is not None:
        req["memory"] = float(memory)
    if ci is not None:
        req["ci"] = float(ci)
    if vs is not None:
        req["vs"] = vs
    doc = json.loads(_call(_lib.cm_api_predict, (json.dumps(req).encode(),), sp))
    meta = {k: v for k, v in doc.items() if k not in ("results", "predictions")}
    return Results(doc["results"], meta)


class Fit:
    """A fitted law: .mode, .values (name -> value), .params (a list of
    dicts: name, value, se, boot_lo, boot_hi, boot_sd, determined), .rmse,
    .mae, .cost, .points, .not_determined, .law (the law file as a dict) and
    .doc (the whole `capmetric fit --json` document). save(path) writes the
    law file that predict(law="file:PATH") and `--law file:PATH` read."""

    def __init__(self, doc: dict):
        self.doc = doc
        f = doc["fit"]
        self.mode: str = f["mode"]
        self.values: Dict[str, float] = {k: _nan(v) for k, v in f["values"].items()}
        self.params: List[dict] = [{k: _nan(v) for k, v in p.items()} for p in f["params"]]
        self.rmse: float = _nan(f["rmse"])
        self.mae: float = _nan(f["mae"])
        self.cost: float = _nan(f["cost"])
        self.points: int = f["points"]
        self.not_determined: List[str] = list(f["not_determined"])
        self.law: dict = doc["law"]

    def __repr__(self) -> str:
        return (f"Fit(mode={self.mode!r}, points={self.points}, rmse={self.rmse:.4g}, "
                f"params={len(self.params)})")

    def to_pandas(self):
        """The parameters as a DataFrame (name, value, se, boot_lo, boot_hi,
        boot_sd, determined)."""
        import pandas as pd
        return pd.DataFrame(self.params)

    def save(self, path: str, name: Optional[str] = None) -> str:
        """Write the law file to path (atomically: a temporary file renamed
        into place) and return "file:PATH" for predict(law=...)."""
        law = dict(self.law)
        if name is not None:
            law["name"] = name
        d = os.path.dirname(os.path.abspath(path))
        tmp = os.path.join(d, f".{os.path.basename(path)}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w") as f:
                json.dump(law, f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return "file:" + path


def fit(runs, mode: str = "decoupled", *, columns: Optional[Dict[str, str]] = None,
        where: Sequence[str] = (), preset: Optional[str] = None,
        huber: Union[float, str, None] = None, residual_scale: Optional[float] = None,
        bootstrap: int = 0, starts: Optional[int] = None,
        fixed: Optional[Sequence[float]] = None, name: str = "fitted", seed: int = 1,
        threads: Optional[int] = None, samples: int = 1 << 24, method: str = "auto",
        plugins: Sequence[str] = ()) -> Fit:
    """Fit a scaling law to training runs, as `capmetric fit --json` does.

    runs: the path of a CSV (one row per run) or a pandas DataFrame with the
    same columns (pandas.read_csv(..., float_precision="round_trip") keeps
    a file's numbers to the last digit; its default parser may not).
    mode: "decoupled" (one effN per format), "unified" (effN from GMSE),
    "map" (rho from GMSE) or "quartet" (effN and effD).
    columns: which column holds what, for names other than the defaults
    (keys label, label2, n, d, loss, rho, gmse, spec, specs, baseline,
    family; e.g. {"label": "format", "n": "params"}). where: row filters
    "COL=V1;V2". preset: quest, quartet, unified or chinchilla (the papers'
    robust losses); huber (a number or "none") and residual_scale override
    it. bootstrap: replicates for the 95 % intervals (boot_lo, boot_hi).
    fixed: quartet's [A, alpha, B, beta, E, gamma] held fixed. name: the
    saved law's name. Returns a Fit."""
    tmp = None
    if hasattr(runs, "to_csv"):
        import tempfile
        fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="capmetric-runs-")
        os.close(fd)
        runs.to_csv(tmp, index=False)
        path = tmp
    else:
        path = os.fspath(runs)
    req: Dict[str, Any] = {"runs": path, "mode": mode, "where": list(where), "name": name,
                           "bootstrap": int(bootstrap), "seed": int(seed),
                           "samples": int(samples), "method": method, "plugins": list(plugins)}
    for k, v in (("columns", columns), ("preset", preset), ("huber", huber),
                 ("residual_scale", residual_scale), ("starts", starts),
                 ("threads", threads)):
        if v is not None:
            req[k] = v
    if fixed is not None:
        req["fixed"] = [float(x) for x in fixed]
    try:
        doc = json.loads(_call(_lib.cm_api_fit, (json.dumps(req).encode(),)))
    finally:
        if tmp:
            os.unlink(tmp)
    if tmp:  # name the data, not the temporary file it passed through
        doc["file"] = "a pandas DataFrame"
        doc["law"]["source"] = doc["law"]["source"].replace(tmp, doc["file"])
    return Fit(doc)
