"""Benign pickles (stdlib data, numpy, scikit-learn, joblib) are clean or carry at most low/info findings."""
from __future__ import annotations

import io
import pickle
import warnings

import pytest

from tests.fixtures import make_pickles as M
from modelscreen.engine import scan_bytes

np = pytest.importorskip("numpy")


def _check_clean(data: bytes, name: str = "x.pkl"):
    report = scan_bytes(data, name)[0]
    bad = [f for f in report.findings if f.severity.rank >= 2 and f.analyzer in ("pickle", "fickling")]
    assert not bad, [(f.rule_id, f.title, f.location) for f in bad]
    assert report.verdict.value == "clean", [(f.rule_id, f.analyzer, f.title) for f in report.findings]
    return report


@pytest.mark.parametrize("name", sorted(M.benign()))
def test_stdlib_values(name):
    _check_clean(M.benign()[name])


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("dtype", ["float32", "int64", "complex128", "bool", "U5", "datetime64[ns]"])
def test_numpy_arrays(protocol, dtype):
    arr = np.arange(24).astype(dtype).reshape(4, 6)
    _check_clean(pickle.dumps(arr, protocol=protocol))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_scalars_and_rng(protocol):
    value = {"s": np.float64(1.5), "i": np.int32(3), "rng": np.random.default_rng(0),
             "rs": np.random.RandomState(0), "f": np.asfortranarray(np.ones((3, 2)))}
    _check_clean(pickle.dumps(value, protocol=protocol))


def _models():
    sk = pytest.importorskip("sklearn")
    del sk
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    X = rng.random((60, 4))
    y = (X[:, 0] > 0.5).astype(int)
    Xc = np.column_stack([X[:, :2], rng.integers(0, 3, 60)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "pipeline": Pipeline([("s", StandardScaler()), ("lr", LogisticRegression())]).fit(X, y),
            "forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y),
            "column_transformer": Pipeline([
                ("ct", ColumnTransformer([("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(), [2])])),
                ("lr", LogisticRegression())]).fit(Xc, y),
        }


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_sklearn_models(protocol):
    for name, model in _models().items():
        _check_clean(pickle.dumps(model, protocol=protocol))


def _joblib(obj, **kw) -> bytes:
    joblib = pytest.importorskip("joblib")
    buf = io.BytesIO()
    joblib.dump(obj, buf, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("value", [
    np.arange(1000, dtype=np.float32),
    np.arange(1000, dtype=np.int64).reshape(10, 100),
    np.asfortranarray(np.arange(1000.0).reshape(10, 100)),
    np.array([1, "a", None, {"x": 1}], dtype=object),
    np.zeros(4, dtype=[("a", "f4"), ("b", "i8")]),
    np.array(["ab", "cde"]),
    np.zeros((0, 3)),
], ids=["float32", "int64", "fortran", "object", "structured", "unicode", "empty"])
def test_joblib_arrays(value):
    report = _check_clean(_joblib(value), "x.joblib")
    assert report.format == "joblib"


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_joblib_dict_with_model(protocol):
    models = _models()
    value = {"a": np.arange(5), "b": [np.ones((3, 3)), "x"], "model": models["column_transformer"],
             "rf": models["forest"]}
    report = _check_clean(_joblib(value, protocol=protocol), "model.joblib")
    assert report.format == "joblib"


def test_joblib_payload_after_array_is_still_seen():
    """Opcodes after the raw array bytes are analysed (the walker skips exactly the array)."""
    clean = _joblib({"a": np.arange(10, dtype=np.float32)})
    assert clean.endswith(b"s.")
    evil = clean[:-2] + M.call(M.sg("os", "system"), M.s("true")) + b"0s."
    report = scan_bytes(evil, "x.joblib")[0]
    assert report.verdict.value == "malicious"
    assert any(f.rule_id == "PICKLE-DANGEROUS-CALL" for f in report.findings)
