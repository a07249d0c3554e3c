"""Model files: a fitted estimator as a versioned ``.npz`` of plain arrays plus a JSON header.

Layout of a model file (an ordinary NumPy ``.npz`` zip archive):

* ``header``: uint8 array holding UTF-8 JSON: format name and version, the
  fastem version that wrote it, the estimator class, its constructor
  parameters, its scalar fitted attributes, a summary (covariance type,
  sizes, classes) and, for every array member, its dtype, shape and SHA-256.
* ``header_sha256``: uint8 array, the SHA-256 of the header bytes.
* ``fitted.<name>``: fitted array attributes (``weights_``, ``means_``,
  ``covariances_``, ``precisions_cholesky_``, ``lower_bounds_``, and any
  further array attribute of a subclass, e.g. ``classes_``).
* ``param.<name>``: array-valued constructor parameters (``means_init``...).

Loading never unpickles (``allow_pickle=False`` throughout) and never executes
code from the file. The checksums detect corruption, not tampering (anyone can
recompute them): a model file is as trusted as its source. Reading is bounded:
only regular files are opened (a FIFO would block), compressed members are
refused (their size cannot be known before inflating them), the JSON header is
at most MAX_HEADER_BYTES, and each array's declared shape is checked against
the header's sizes (n_components, n_features, n_iter_) before it is read, so
reading a file needs about its own size in memory. Loading checks
everything before building the estimator: format and version, checksums,
member list, dtypes and shapes, finite values, weights summing to one, and
precision Cholesky factors that are triangular with a positive diagonal (so
every precision matrix is positive-definite). ``precisions_`` is recomputed
from ``precisions_cholesky_`` exactly as ``fit`` does, and ``covariances_``
is cross-checked against it.
"""
import contextlib
import hashlib
import importlib
import json
import math
import numbers
import os
import secrets
import stat
import zipfile

import numpy as np

from . import _linalg
from ._config import VERSION
from ._validation import COVARIANCE_TYPES, check_is_fitted, check_params

FORMAT_NAME = "fastem-model"
FORMAT_VERSION = 1

# Estimator classes a model file may hold: class name -> module. The module is
# imported only when a file of that class is loaded.
MODEL_CLASSES = {
    "GaussianMixture": "fastem.mixture",
    "SemiSupervisedGaussianMixture": "fastem.semi_supervised",
    "MiniBatchGaussianMixture": "fastem.online",
    "BayesianGaussianMixture": "fastem.bayesian",
}
# Fitted attributes every model file holds (checked in detail on load) ...
CORE_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_")
CORE_SCALARS = {"converged_": bool, "n_iter_": int, "lower_bound_": float,
                "n_features_in_": int}
# ... and those a class needs beyond them. Any other public fitted attribute
# (name ending in '_') of a numeric or string type is saved and restored too.
EXTRA_REQUIRED = {"SemiSupervisedGaussianMixture": ("classes_",),
                  "BayesianGaussianMixture": ("weight_concentration_", "mean_precision_",
                                              "degrees_of_freedom_")}
# Derived attributes: recomputed on load, never stored.
DERIVED = ("precisions_",)

_HEADER = "header"
_HEADER_SHA = "header_sha256"
_ARRAY_KINDS = "biuf" + "U"  # bool, ints, floats and unicode strings; never objects
# A header is a few KB (plus one JSON entry per class label); refused above this.
MAX_HEADER_BYTES = 16 * 2**20


class ModelFileError(ValueError):
    """A model file that cannot be read: corrupt, truncated, tampered, foreign or too new."""


# ---------------------------------------------------------------------- save
def save_model(estimator, path):
    """Write a fitted estimator to ``path`` (exactly that name; replaced atomically)."""
    check_is_fitted(estimator)
    cls = type(estimator)
    if MODEL_CLASSES.get(cls.__name__) != cls.__module__:
        raise TypeError(
            f"fastem model files hold {' or '.join(MODEL_CLASSES)} estimators, not "
            f"{cls.__module__}.{cls.__qualname__}; use pickle or joblib for other classes.")

    arrays = {}
    params, dropped = {}, []
    for name, value in estimator.get_params().items():
        if _is_json_value(value):
            params[name] = _json_value(value)
        elif _as_saved_array(value) is not None:
            arrays[f"param.{name}"] = _as_saved_array(value)
        else:  # e.g. a RandomState instance: the loaded model gets the default
            dropped.append(name)

    fitted = {}
    for name in sorted(vars(estimator)):
        if not name.endswith("_") or name.startswith("_") or name in DERIVED:
            continue
        value = getattr(estimator, name)
        if name in CORE_ARRAYS:
            # float32 models (float32 in, float32 out, as scikit-learn) stay float32
            dtype = np.float32 if np.asarray(value).dtype == np.float32 else np.float64
            arrays[f"fitted.{name}"] = np.ascontiguousarray(value, dtype=dtype)
            fitted[name] = {"kind": "array"}
        elif _is_json_scalar(value):
            fitted[name] = {"kind": "scalar", "value": _json_value(value)}
        elif _as_saved_array(value) is not None:
            arrays[f"fitted.{name}"] = _as_saved_array(value)
            fitted[name] = {"kind": "list" if isinstance(value, (list, tuple)) else "array"}
        else:
            raise TypeError(f"cannot save the fitted attribute {name!r} of type "
                            f"{type(value).__name__} in a fastem model file")

    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastem_version": VERSION,
        "class": cls.__name__,
        "covariance_type": estimator.covariance_type,
        "n_components": int(estimator.means_.shape[0]),
        "n_features": int(estimator.means_.shape[1]),
        "params": params,
        "dropped_params": dropped,
        "fitted": fitted,
        "arrays": {key: {"dtype": a.dtype.str, "shape": list(a.shape),
                         "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
                   for key, a in sorted(arrays.items())},
    }
    if hasattr(estimator, "classes_"):
        header["classes"] = np.asarray(estimator.classes_).tolist()
    header_bytes = json.dumps(header, indent=1, sort_keys=True).encode("utf-8")
    members = {_HEADER: np.frombuffer(header_bytes, dtype=np.uint8),
               _HEADER_SHA: np.frombuffer(hashlib.sha256(header_bytes).digest(), np.uint8)}
    members.update(arrays)

    # np.savez on a file object does not append '.npz' to the name.
    with atomic_replace(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **members)


@contextlib.contextmanager
def atomic_replace(path):
    """Yield a new temporary file's name next to ``path``; once the block succeeds,
    the file is flushed to disk and renamed onto ``path`` in one step.

    Whatever happens (an error, Ctrl-C, another thread or process writing the
    same path), ``path`` holds either its old content or a complete new file,
    never a mixture; on failure the temporary file is removed and ``path`` is
    left as it was. Each call gets its own temporary name, so concurrent writers
    never share one (the last rename wins). An existing file keeps its
    permission bits; a new one gets the umask's, as ``open`` would give it. A
    symbolic link at ``path`` is followed, as ``open(path, 'w')`` would: the
    file it points to is replaced and the link is kept.
    """
    target = os.path.realpath(os.fspath(path))
    directory, base = os.path.split(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"No such directory: {directory!r}")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(8)}.tmp")
        try:  # O_EXCL: a name no one else holds; 0o666 & ~umask, as open() creates files
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _is_json_scalar(value):
    return value is None or isinstance(value, (bool, np.bool_, numbers.Real, str))


def _is_json_value(value):
    """A JSON scalar, or a flat list/tuple of them."""
    if isinstance(value, (list, tuple)):
        return all(_is_json_scalar(v) for v in value)
    return _is_json_scalar(value)


def _json_value(value):
    """Plain Python value for JSON (numpy scalars converted; lists of ints/strs kept)."""
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def _as_saved_array(value):
    """``value`` as a plain numeric or unicode ndarray, or None if it is not one."""
    if not isinstance(value, (np.ndarray, list, tuple)):
        return None
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):  # ragged lists
        return None
    if a.dtype.kind == "O":  # e.g. class labels held as Python strings
        if a.size and all(isinstance(v, str) for v in a.flat):
            a = a.astype(str)
        elif a.size and all(isinstance(v, numbers.Integral) for v in a.flat):
            a = a.astype(np.int64)
        else:
            return None
    if a.dtype.kind not in _ARRAY_KINDS:
        return None
    return np.ascontiguousarray(a)


# ---------------------------------------------------------------------- load
def load(path):
    """Read a model written by ``GaussianMixture.save`` (or the semi-supervised estimator).

    Never unpickles. Raises ``FileNotFoundError`` for a missing file and
    :class:`ModelFileError` (a ``ValueError``) for a file that is corrupt,
    truncated, tampered with, not a fastem model, or written by a newer fastem.
    """
    return load_with_header(path)[0]


def load_with_header(path):
    """(estimator, header dict) of a model file; see :func:`load`."""
    path = os.fspath(path)
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path!r}")
    with _open_regular_file(path, name) as f:
        magic = f.read(len(np.lib.format.MAGIC_PREFIX))
        f.seek(0)
        if magic == np.lib.format.MAGIC_PREFIX:
            raise ModelFileError(f"{name} is not a fastem model file (it is a single .npy "
                                 "array, not an .npz model archive)")
        if not zipfile.is_zipfile(f):
            raise ModelFileError(f"{name} is corrupt or not a fastem model file (it is not "
                                 "an .npz archive)")
        f.seek(0)
        try:
            archive = np.load(f, allow_pickle=False)
        except Exception as exc:  # any failure to parse the file (see _read_member)
            raise ModelFileError(f"{name} is corrupt or not a fastem model file "
                                 f"({type(exc).__name__}: {exc})") from None
        with archive:
            header, members = _read_checked(archive, name)
    return _build_estimator(header, members, name), header


def _open_regular_file(path, name):
    """``path`` opened for reading, refused unless it is a regular file: opening a
    FIFO blocks until a writer appears (O_NONBLOCK makes the open itself return)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ModelFileError(f"{name} is not a regular file (a model file is an .npz "
                                 "archive on disk, not a directory, pipe or device)")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_member(archive, key, name, record=None, header=None):
    """One array member: never unpickled, and read only if its header is plausible
    (and, given its ``record`` in the model ``header``, declares that dtype and a
    shape that fits the model's sizes)."""
    try:
        _check_member_header(archive, key, name, record)
        if header is not None:
            _check_declared_shape(header, key, record.get("shape"), name)
        return archive[key]
    except ModelFileError:
        raise
    except Exception as exc:
        # A damaged zip or .npy header makes zipfile, zlib or numpy raise almost
        # anything (BadZipFile, zlib.error, EOFError, NotImplementedError, ...).
        raise ModelFileError(f"{name} is corrupt or truncated ({key!r}: "
                             f"{type(exc).__name__}: {exc})") from None


def _check_member_header(archive, key, name, record):
    """Reject compressed members, object arrays, arrays whose header claims more
    bytes than the member holds (numpy would allocate the claimed size before
    reading) and arrays other than their ``record`` in the model header says."""
    info = archive.zip.getinfo(key + ".npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ModelFileError(
            f"{name} holds a compressed member ({key!r}); fastem writes model files "
            "uncompressed and refuses compressed members, whose size is unknown until "
            "they are inflated")
    with archive.zip.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ModelFileError(f"{name} is corrupt ({key!r}: .npy version {version})")
    if dtype.hasobject:
        raise ModelFileError(f"{name} holds Python objects in {key!r}; fastem model files "
                             "hold only numeric arrays and are never unpickled")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > info.file_size:
        raise ModelFileError(f"{name} is corrupt or truncated ({key!r} claims {claimed} "
                             f"bytes but holds {info.file_size})")
    if record is not None and (dtype.str != record.get("dtype")
                               or list(shape) != record.get("shape")):
        raise ModelFileError(
            f"{name} is corrupt or was modified: array {key!r} has dtype {dtype.str} "
            f"and shape {shape}, the header says {record.get('dtype')} and "
            f"{tuple(record.get('shape') or ())}")


def _read_checked(archive, name):
    """Header (dict) and array members, after the format, version and checksum checks."""
    keys = set(archive.files)
    if _HEADER not in keys or _HEADER_SHA not in keys:
        raise ModelFileError(f"{name} is not a fastem model file (no fastem header)")
    size = archive.zip.getinfo(_HEADER + ".npy").file_size
    if size > MAX_HEADER_BYTES:
        raise ModelFileError(f"{name} is corrupt or not a fastem model file (its header "
                             f"holds {size} bytes, more than {MAX_HEADER_BYTES})")
    raw = _read_member(archive, _HEADER, name)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{name} is not a fastem model file (malformed header)")
    header_bytes = raw.tobytes()
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # deep nesting: RecursionError
        raise ModelFileError(f"{name} is corrupt or not a fastem model file "
                             "(unreadable header)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{name} is not a fastem model file (format "
                             f"{header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{name} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{name} was written by a newer fastem ({header.get('fastem_version')}, model "
            f"format {version}); this fastem reads model format {FORMAT_VERSION} at most. "
            "Upgrade fastem to load it.")
    digest = _read_member(archive, _HEADER_SHA, name)
    if digest.dtype != np.uint8 or digest.tobytes() != hashlib.sha256(header_bytes).digest():
        raise ModelFileError(f"{name} is corrupt or was modified: the header checksum "
                             "does not match")

    listed = header.get("arrays")
    if not isinstance(listed, dict):
        raise ModelFileError(f"{name} is corrupt (no array list in the header)")
    unexpected = sorted(keys - set(listed) - {_HEADER, _HEADER_SHA})
    if unexpected:
        raise ModelFileError(f"{name} was modified: it holds members not listed in its "
                             f"header: {', '.join(unexpected)}")
    members = {}
    for key, record in listed.items():
        if not isinstance(record, dict):
            raise ModelFileError(f"{name} is corrupt (bad header entry for {key!r})")
        if key not in keys:
            raise ModelFileError(f"{name} is corrupt or truncated: array {key!r} is missing")
        a = _read_member(archive, key, name, record, header)
        if (a.dtype.kind not in _ARRAY_KINDS or a.dtype.str != record.get("dtype")
                or list(a.shape) != record.get("shape")):
            raise ModelFileError(
                f"{name} is corrupt or was modified: array {key!r} has dtype {a.dtype.str} "
                f"and shape {a.shape}, the header says {record.get('dtype')} and "
                f"{tuple(record.get('shape') or ())}")
        if hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() != record.get("sha256"):
            raise ModelFileError(f"{name} is corrupt or was modified: the checksum of "
                                 f"array {key!r} does not match")
        members[key] = a
    return header, members


def _check_declared_shape(header, key, shape, name):
    """Before an array is read: its declared shape must be the one the header's sizes
    give it (n_components K, n_features D, n_iter_), so no array is larger than
    the model it describes."""
    k, d = header.get("n_components"), header.get("n_features")
    fitted = header.get("fitted") if isinstance(header.get("fitted"), dict) else {}
    n_iter = (fitted.get("n_iter_") or {}).get("value") if isinstance(
        fitted.get("n_iter_"), dict) else None
    if not (_is_int(k) and k >= 1 and _is_int(d) and d >= 1):
        raise ModelFileError(f"{name}: invalid model: n_components {k!r}, n_features {d!r}")
    cov = {"full": [k, d, d], "tied": [d, d], "diag": [k, d],
           "spherical": [k]}.get(header.get("covariance_type"))
    expected = {"fitted.weights_": [k], "fitted.means_": [k, d],
                "fitted.covariances_": cov, "fitted.precisions_cholesky_": cov,
                "param.weights_init": [k], "param.means_init": [k, d],
                "param.precisions_init": cov,
                # one value per EM iteration of the fit
                "fitted.lower_bounds_": [n_iter] if _is_int(n_iter) else None}
    if key in expected and shape != expected[key]:
        raise ModelFileError(
            f"{name}: invalid model: array {key!r} is declared with shape {shape}; "
            f"{expected[key]} expected from the header (n_components={k}, n_features={d}, "
            f"n_iter_={n_iter!r})")
    if key == "fitted.classes_" and not (isinstance(shape, list) and len(shape) == 1
                                         and _is_int(shape[0]) and shape[0] <= k):
        raise ModelFileError(f"{name}: invalid model: {key!r} is declared with shape "
                             f"{shape}; at most {k} classes expected (n_components={k})")


def _estimator_class(header, name):
    class_name = header.get("class")
    module = MODEL_CLASSES.get(class_name)
    if module is None:
        raise ModelFileError(f"{name} holds an unknown model class {class_name!r}; known: "
                             f"{', '.join(MODEL_CLASSES)}")
    try:
        cls = getattr(importlib.import_module(module), class_name)
    except (ImportError, AttributeError):
        raise ModelFileError(f"{name} holds a {class_name}, which this fastem installation "
                             "does not provide; upgrade fastem to load it") from None
    return cls


def _build_estimator(header, members, name):
    cls = _estimator_class(header, name)

    def fail(message):
        raise ModelFileError(f"{name}: invalid model: {message}")

    # Constructor parameters: JSON values plus array-valued ones.
    params = header.get("params")
    if not isinstance(params, dict):
        fail("no constructor parameters")
    params = dict(params)
    for key, a in members.items():
        if key.startswith("param."):
            params[key[len("param."):]] = a
    valid = set(cls._get_param_names())
    unknown = sorted(set(params) - valid)
    if unknown:
        fail(f"unknown {cls.__name__} parameter(s) {', '.join(unknown)}")
    try:
        estimator = cls(**params)
    except (TypeError, ValueError) as exc:
        fail(f"bad constructor parameters ({exc})")

    covariance_type = estimator.covariance_type
    if covariance_type not in COVARIANCE_TYPES or header.get("covariance_type") != covariance_type:
        fail(f"covariance_type {covariance_type!r}")
    # The fitted number of components (the semi-supervised estimator's
    # n_components parameter may be None: one per class).
    k, d = header.get("n_components"), header.get("n_features")
    if not (_is_int(k) and k >= 1 and _is_int(d) and d >= 1
            and estimator.n_components in (None, k)):
        fail(f"n_components {k!r} (parameter {estimator.n_components!r}), n_features {d!r}")

    # The parameters must pass the checks fit makes (on a copy: the
    # semi-supervised n_components may be None, resolved at fit time).
    probe = cls.__new__(cls)
    probe.__dict__.update(vars(estimator), n_components=k)
    try:
        check_params(probe, k, d)
    except (TypeError, ValueError) as exc:
        fail(f"bad constructor parameters ({exc})")

    # Fitted attributes, as listed in the header.
    fitted = header.get("fitted")
    if not isinstance(fitted, dict):
        fail("no fitted attributes")
    required = set(CORE_ARRAYS) | set(CORE_SCALARS) | {"lower_bounds_"}
    required |= set(EXTRA_REQUIRED.get(cls.__name__, ()))
    missing = sorted(required - set(fitted))
    if missing:
        fail(f"missing fitted attribute(s) {', '.join(missing)}")
    values = {}
    for attr, record in fitted.items():
        if not (isinstance(attr, str) and attr.endswith("_") and not attr.startswith("_")
                and attr not in DERIVED and isinstance(record, dict)):
            fail(f"bad fitted attribute entry {attr!r}")
        kind = record.get("kind")
        if kind == "scalar":
            values[attr] = record.get("value")
        elif kind in ("array", "list"):
            key = f"fitted.{attr}"
            if key not in members:
                fail(f"array {key!r} is missing")
            values[attr] = members[key].tolist() if kind == "list" else members[key]
        else:
            fail(f"bad fitted attribute entry {attr!r}")
    described = {f"fitted.{attr}" for attr, record in fitted.items()
                 if record["kind"] != "scalar"}
    for key in members:
        if not (key in described or key.startswith("param.")):
            fail(f"array {key!r} is not described by the header")

    for attr, kind in CORE_SCALARS.items():
        v = values[attr]
        ok = (isinstance(v, bool) if kind is bool else
              _is_int(v) if kind is int else
              isinstance(v, (int, float)) and not isinstance(v, bool))
        if not ok:
            fail(f"{attr} = {v!r} is not a {kind.__name__}")
        values[attr] = kind(v)
    if values["n_features_in_"] != d or values["n_iter_"] < 0:
        fail(f"n_features_in_ = {values['n_features_in_']}, n_iter_ = {values['n_iter_']}")
    bounds = values["lower_bounds_"]
    if not (isinstance(bounds, list) and all(isinstance(b, float) for b in bounds)):
        fail("lower_bounds_ is not a list of floats")

    _check_parameters(values, covariance_type, k, d, fail)
    if "classes_" in EXTRA_REQUIRED.get(cls.__name__, ()):
        classes = values["classes_"]
        if not isinstance(classes, np.ndarray) or classes.ndim != 1 or classes.size < 1:
            fail("classes_ must be a non-empty 1-D array")
        if header.get("classes") != classes.tolist():
            fail("classes_ does not match the header")

    if "feature_names_in_" in values:  # scikit-learn keeps them as an object array
        names = values["feature_names_in_"]
        if not (isinstance(names, np.ndarray) and names.dtype.kind == "U"
                and names.shape == (d,)):
            fail(f"feature_names_in_ must hold {d} strings")
        values["feature_names_in_"] = names.astype(object)
    for attr, value in values.items():
        setattr(estimator, attr, value)
    estimator.precisions_ = _linalg.precisions_from_cholesky(
        estimator.precisions_cholesky_, covariance_type)
    return estimator


def _check_parameters(values, covariance_type, k, d, fail):
    """Shapes, dtypes, finiteness, normalised weights, positive-definite precisions."""
    cov_shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d),
                 "spherical": (k,)}[covariance_type]
    shapes = {"weights_": (k,), "means_": (k, d), "covariances_": cov_shape,
              "precisions_cholesky_": cov_shape}
    dtype = getattr(values["weights_"], "dtype", None)
    # A float32 model's consistency holds to float32 rounding only.
    slack = 1e4 if dtype == np.float32 else 1.0
    for attr, shape in shapes.items():
        a = values[attr]
        if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64) \
                or a.dtype != dtype:
            fail(f"{attr} must be a float64 array (float32 for a float32 model)")
        if a.shape != shape:
            fail(f"{attr} has shape {a.shape}, expected {shape} for {k} '{covariance_type}' "
                 f"components in {d} dimensions")
        if not np.isfinite(a).all():
            fail(f"{attr} contains NaN or infinity")
    weights = values["weights_"]
    if (weights < 0).any() or abs(weights.sum() - 1.0) > 1e-8 * slack:
        fail(f"weights_ must be non-negative and sum to 1 (sum {weights.sum()!r})")

    prec_chol = values["precisions_cholesky_"]
    covariances = values["covariances_"]
    if covariance_type in ("full", "tied"):
        batch_u = prec_chol.reshape(-1, d, d)
        batch_c = covariances.reshape(-1, d, d)
        if (np.tril(batch_u, -1) != 0).any():
            fail("precisions_cholesky_ is not upper triangular")
        if not (np.diagonal(batch_u, axis1=1, axis2=2) > 0).all():
            fail("precisions_cholesky_ has a non-positive diagonal: the precision "
                 "matrices are not positive-definite")
        # covariance = inv(U U^T), so U^T C U = I up to rounding, which grows with
        # the condition number of C.
        residual = np.swapaxes(batch_u, 1, 2) @ batch_c @ batch_u - np.eye(d)
        cond = np.linalg.cond(batch_c)
        tolerance = 1e-8 * slack * np.maximum(1.0, cond)
        if not (np.abs(residual).max(axis=(1, 2)) <= tolerance).all():
            fail("covariances_ is not the inverse of precisions_cholesky_ U U^T")
    else:
        if not (prec_chol > 0).all():
            fail("precisions_cholesky_ must be positive")
        if not np.allclose(covariances * prec_chol ** 2, 1.0, rtol=0, atol=1e-10 * slack):
            fail("covariances_ is not 1 / precisions_cholesky_**2")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# What ``lower_bound_`` means for each estimator, for ``fastem info``.
_LOWER_BOUND_MEANING = {
    "GaussianMixture": "(mean log-likelihood per sample)",
    "MiniBatchGaussianMixture": "(mean log-likelihood per sample over the last pass, "
                                "or a running estimate after partial_fit)",
    "BayesianGaussianMixture": "(variational lower bound, total over the samples)",
    "SemiSupervisedGaussianMixture": "(per-sample EM objective, labelled rows clamped)",
}


def describe(estimator, header):
    """Human-readable lines about a loaded model and its header (for ``fastem info``)."""
    lines = [
        ("class", f"{type(estimator).__name__} (model format {header.get('format_version')}, "
                  f"written by fastem {header.get('fastem_version')})"),
        ("covariance type", estimator.covariance_type),
        ("components", str(estimator.means_.shape[0])),
        ("features", str(estimator.n_features_in_)),
        ("converged", f"{'yes' if estimator.converged_ else 'no'}, "
                      f"after {estimator.n_iter_} iteration(s)"),
        ("lower bound", f"{estimator.lower_bound_:.10g} " + (
            _LOWER_BOUND_MEANING.get(type(estimator).__name__, "(per-sample EM objective)"))),
        ("weights", " ".join(f"{w:.4g}" for w in estimator.weights_)),
    ]
    if hasattr(estimator, "classes_"):
        lines.append(("classes", " ".join(str(c) for c in np.asarray(estimator.classes_))))
    params = ", ".join(f"{key}={value!r}" for key, value in sorted(header.get("params",
                                                                              {}).items()))
    lines.append(("parameters", params))
    if header.get("dropped_params"):
        lines.append(("not saved", ", ".join(header["dropped_params"]) +
                      " (not storable; defaults used)"))
    width = max(len(key) for key, _ in lines) + 1
    return [f"{key + ':':<{width}} {value}" for key, value in lines]

