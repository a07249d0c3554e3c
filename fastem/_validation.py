"""Input and parameter checks, raised before any heavy work, in scikit-learn's words."""
import math
import numbers
import warnings

import numpy as np

from ._config import CHUNK_ROWS
from ._chunks import parse_bytes
from .exceptions import NotFittedError, sklearn_compatible

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def _is_sparse(X):
    return type(X).__module__.startswith("scipy.sparse")


def check_array(X, estimator_name, *, ensure_min_samples=1, name="X"):
    """A 2-D C-contiguous float32/float64 array, without copying one that already is.

    Memory-mapped arrays (``np.memmap``, ``np.load(..., mmap_mode='r')``) are
    kept as they are, never copied: they must already be C-contiguous float32
    or float64, and their NaN/inf check is left to the first pass over the
    rows (``check_finite_rows``, chunk by chunk), so validating costs no extra
    read of the file. (dask arrays are checked by ``fastem._dask``.)
    """
    if isinstance(X, np.memmap):
        _check_memmap_layout(X, name)
    if _is_sparse(X):
        raise TypeError(
            f"Sparse data was passed for {name}, but dense data is required. "
            f"Use '.toarray()' to convert to a dense numpy array.")
    if not (isinstance(X, np.ndarray) and X.dtype in (np.float32, np.float64)):
        X = np.asarray(X)
        _refuse_non_numeric(X.dtype, name)
        if X.dtype.kind == "c":
            raise ValueError("Complex data not supported\n")
        if X.dtype.kind in "OUSV":
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as exc:
                # Keep numpy's exception type (TypeError for e.g. a dict), as scikit-learn does.
                raise type(exc)(f"{name} could not be converted to float: {exc}") from None
        elif X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
    check_2d(X, estimator_name)
    check_min_size(X.shape, ensure_min_samples, estimator_name)
    if isinstance(X, np.memmap):
        return X  # NaN/inf: checked during the first pass (see the docstring)
    if not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    check_finite(X, name, estimator_name)
    return X


def _refuse_non_numeric(dtype, name):
    """Dates, durations and records have no meaning as coordinates: casting them to
    float would be silent (datetime64 to seconds since 1970, a record to its field)."""
    if dtype.kind in "mM":
        raise ValueError(f"{name} has dtype {dtype}, which is not numeric data: convert "
                         "the dates or durations to numbers explicitly (e.g. "
                         "X.astype('datetime64[s]').astype(float) for seconds).")
    if dtype.fields is not None:
        raise ValueError(f"{name} has a structured dtype {dtype}: pass a plain 2-D numeric "
                         "array (e.g. numpy.lib.recfunctions.structured_to_unstructured).")


def _check_memmap_layout(X, name):
    """A memory-mapped X is used in place: converting it would copy the whole file."""
    if X.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"Memory-mapped {name} must be float32 or float64, got {X.dtype}; converting "
            "it here would copy the whole array into memory. Convert the file once "
            "(chunk by chunk) and map the converted file.")
    if X.ndim == 2 and not X.flags.c_contiguous:
        raise ValueError(
            f"Memory-mapped {name} must be C-contiguous (row-major, whole rows); a copy "
            "would load the whole array into memory. Map a C-ordered file, or pass an "
            "in-memory array.")


def first_nonfinite_row(rows):
    """Index of the first row of ``rows`` holding NaN or +-inf, or -1 if none.

    Fast path: one float64 sum. A finite sum proves every value finite (NaN and
    inf propagate); only an overflowing or non-finite sum pays the exact scan.
    """
    if rows.size == 0:
        return -1
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(rows.sum(dtype=np.float64)):
            return -1
    hits = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    return int(hits[0]) if hits.size else -1


def check_finite_rows(rows, offset=0, name="X", estimator_name="GaussianMixture"):
    """Raise on the first NaN/inf row of ``rows``, named as row ``offset + i`` of X."""
    bad = first_nonfinite_row(rows)
    if bad < 0:
        return
    row = offset + bad
    if np.isnan(rows[bad]).any():
        raise ValueError(
            f"Input {name} contains NaN (first at row {row}).\n{estimator_name} "
            "does not accept missing values encoded as NaN natively.")
    raise ValueError(
        f"Input {name} contains infinity or a value too large for "
        f"{rows.dtype!r} (first at row {row}).")


def check_2d(X, estimator_name):
    """X must be 2-D (scikit-learn's messages); works for NumPy and dask arrays."""
    if X.ndim < 2:
        raise ValueError(
            f"Expected 2D array, got {'scalar' if X.ndim == 0 else '1D'} array instead:\n"
            f"array={X!r}.\nReshape your data either using array.reshape(-1, 1) if "
            "your data has a single feature or array.reshape(1, -1) if it contains a "
            "single sample.")
    if X.ndim > 2:
        raise ValueError(f"Found array with dim {X.ndim}. {estimator_name} expected <= 2.")


def check_min_size(shape, ensure_min_samples, estimator_name):
    """At least ``ensure_min_samples`` rows and one feature (scikit-learn's messages)."""
    if shape[0] < ensure_min_samples:
        raise ValueError(
            f"Found array with {shape[0]} sample(s) (shape={shape}) while a minimum "
            f"of {ensure_min_samples} is required by {estimator_name}.")
    if shape[1] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is "
            f"required by {estimator_name}.")


def check_finite(X, name="X", estimator_name="GaussianMixture"):
    """Raise on the first NaN/inf row, scanning in chunks (bounded memory)."""
    for start in range(0, X.shape[0], CHUNK_ROWS):
        check_finite_rows(X[start:start + CHUNK_ROWS], start, name, estimator_name)


# Weights whose largest value is outside this range are rescaled (see check_sample_weight).
_WEIGHT_RANGE = (2.0 ** -20, 2.0 ** 100)


def check_sample_weight(sample_weight, n_samples):
    """Float64 frequency weights; an empty array stands for all ones.

    A fit does not depend on the scale of the weights, but their sums must
    neither overflow (all 1e308) nor vanish next to the 10 * eps that the
    M-step adds to each component's weight (all 1e-320): weights whose largest
    value lies outside [2**-20, 2**100] are multiplied by the power of two that
    brings it into [0.5, 1) (exact, so their ratios are kept)."""
    if sample_weight is None:
        return np.empty(0)
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        sw = np.full(n_samples, float(sw))
    if sw.ndim != 1 or sw.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {sw.shape}, expected ({n_samples},)!")
    if not np.isfinite(sw).all():
        raise ValueError("sample_weight contains NaN or infinity.")
    if (sw < 0).any():
        raise ValueError("Negative values in data passed to sample_weight.")
    if not (sw > 0).any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    largest = float(sw.max())
    if not _WEIGHT_RANGE[0] <= largest <= _WEIGHT_RANGE[1]:
        sw = np.ldexp(sw, -math.frexp(largest)[1])
    return np.ascontiguousarray(sw)


def check_random_state(seed):
    """scikit-learn's ``check_random_state``: a RandomState from None, an int or itself."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, (int, np.integer)):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")


def check_params(est, n_samples, n_features, n_components=None):
    """Constructor parameters of a mixture, checked before fitting. ``n_components``:
    the number the fit will use, when the estimator derives it (semi-supervised)."""
    def _int(name, low):
        v = getattr(est, name)
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < low:
            raise ValueError(f"The '{name}' parameter of {type(est).__name__} must be an "
                             f"int in the range [{low}, inf). Got {v!r} instead.")

    def _real(name):
        v = getattr(est, name)
        if (not isinstance(v, numbers.Real) or isinstance(v, bool) or not np.isfinite(v)
                or v < 0):
            raise ValueError(f"The '{name}' parameter of {type(est).__name__} must be a "
                             f"float in the range [0.0, inf). Got {v!r} instead.")

    if n_components is None:
        _int("n_components", 1)
        n_components = est.n_components
    _int("max_iter", 0)
    _int("n_init", 1)
    _int("verbose", 0)
    _int("verbose_interval", 1)
    _real("tol")
    _real("reg_covar")
    if getattr(est, "init_max_samples", None) is not None:
        _int("init_max_samples", 1)
    warm_start = getattr(est, "warm_start", False)
    if not isinstance(warm_start, (bool, np.bool_)):
        raise ValueError(f"The 'warm_start' parameter of {type(est).__name__} must be an "
                         "instance of 'bool' or an instance of 'numpy.bool'. Got "
                         f"{warm_start!r} instead.")
    chunk_size = getattr(est, "chunk_size", None)
    if isinstance(chunk_size, str):
        parse_bytes(chunk_size)  # raises a ValueError naming chunk_size
    elif chunk_size is not None:
        if (not isinstance(chunk_size, numbers.Integral) or isinstance(chunk_size, bool)
                or chunk_size < 1):
            raise ValueError(f"The 'chunk_size' parameter of {type(est).__name__} must be "
                             "None, an int >= 1 (rows) or a size string like '64MB'. "
                             f"Got {chunk_size!r} instead.")
    if est.covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"The 'covariance_type' parameter of {type(est).__name__} must be "
                         f"a str among {set(COVARIANCE_TYPES)}. Got "
                         f"{est.covariance_type!r} instead.")
    init_params = getattr(est, "init_params", "kmeans")  # the semi-supervised start: labels
    if init_params not in INIT_PARAMS:
        raise ValueError(f"The 'init_params' parameter of {type(est).__name__} must be a "
                         f"str among {set(INIT_PARAMS)}. Got {init_params!r} instead.")
    if n_samples < n_components:
        raise ValueError("Expected n_samples >= n_components but got n_components = "
                         f"{n_components}, n_samples = {n_samples}")


def check_warm_start(est, n_features, continuing="warm_start=True continues the previous fit",
                     afresh="set warm_start=False to fit afresh"):
    """With ``warm_start`` (or ``partial_fit``: ``continuing`` and ``afresh`` say which
    and what to do instead), the previous fit must fit the new data and parameters:
    its arrays are handed to compiled kernels, which do not check shapes."""
    name = type(est).__name__
    fitted_features = est.means_.shape[1] if est.means_.ndim == 2 else None
    if fitted_features != n_features:
        raise ValueError(
            f"X has {n_features} features, but {name} is expecting {fitted_features} "
            f"features as input. ({continuing}; {afresh}.)")
    k = est.weights_.shape[0]
    changed = []
    if est.n_components != k:
        changed.append(f"n_components={est.n_components!r} but the previous fit has {k} "
                       "components")
    cov_shape = {"full": (k, n_features, n_features), "tied": (n_features, n_features),
                 "diag": (k, n_features), "spherical": (k,)}.get(est.covariance_type)
    shapes = {"weights_": (k,), "means_": (k, n_features), "covariances_": cov_shape,
              "precisions_cholesky_": cov_shape}
    wrong = [attr for attr, shape in shapes.items() if np.shape(getattr(est, attr)) != shape]
    # 'diag' and 'tied' arrays have the same shape when K == D: tell them apart by
    # what a precision Cholesky factor of the type must look like.
    prec_chol = np.asarray(est.precisions_cholesky_)
    if not wrong and est.covariance_type in ("full", "tied"):
        if np.tril(prec_chol, -1).any() or not (np.diagonal(prec_chol, axis1=-2,
                                                             axis2=-1) > 0).all():
            wrong.append("precisions_cholesky_")
    elif not wrong and not (prec_chol > 0).all():
        wrong.append("precisions_cholesky_")
    if wrong and not changed:
        changed.append(f"covariance_type={est.covariance_type!r} does not match the "
                       f"previous fit's {', '.join(wrong)}")
    if changed:
        raise ValueError(
            f"{continuing}, but {'; '.join(changed)}. To fix: {afresh} (or restore the "
            "previous parameters).")


def check_finite_pass(lower_bound, n_iter):
    """Raise if an EM pass overflowed (the data or initial parameters are too large
    for float64 arithmetic); the fit would otherwise end at -inf as if it had worked."""
    if not math.isfinite(lower_bound):
        raise ValueError(
            f"Fitting the mixture model failed: the log-likelihood is {lower_bound} after "
            f"EM iteration {n_iter}, because squared distances or covariances overflow "
            "float64 (values above about 1e150, in the data or the initial parameters). "
            "Scale the data (for example divide every feature by its standard deviation) "
            "and the initial parameters, and fit again.")


def warn_coarse_resolution(weights, means, covariances, covariance_type, dtype):
    """Warn when X's dtype cannot resolve the data's spread around its offset
    (float32 data offset by 1e8 holds only multiples of 8): such data were rounded
    to a few distinct values before fastem saw them, and the fit is degenerate."""
    weights = weights / weights.sum()
    if covariance_type == "full":
        variances = np.diagonal(covariances, axis1=1, axis2=2)
    elif covariance_type == "tied":
        variances = np.broadcast_to(np.diag(covariances), means.shape)
    elif covariance_type == "diag":
        variances = covariances
    else:
        variances = np.broadcast_to(covariances[:, None], means.shape)
    centre = weights @ means
    # Spread of each feature under the mixture, without cancellation at a large offset.
    std = np.sqrt(weights @ (variances + (means - centre) ** 2))
    step = np.spacing(np.abs(centre).astype(dtype)).astype(np.float64)
    coarse = np.flatnonzero(step > std)
    if coarse.size:
        j = int(coarse[0])
        warnings.warn(
            f"X is {np.dtype(dtype).name} and feature {j} lies around {centre[j]:.6g}, where "
            f"the resolution of {np.dtype(dtype).name} is {step[j]:.3g}, more than the "
            f"spread of the feature (standard deviation {std[j]:.3g}): the data hold only "
            "a few distinct values there and the fit is degenerate. Subtract the offset "
            "(centre the data) before converting them, or use float64.",
            UserWarning, stacklevel=5)


def check_weights(weights, n_components):
    weights = _as_float_array(weights, "weights")
    _check_shape(weights, (n_components,), "weights")
    if (weights < 0).any() or (weights > 1).any():
        # scikit-learn's text, which prints the minimum after "max value" and the
        # maximum after "min value"; the values in order follow.
        raise ValueError("The parameter 'weights' should be in the range [0, 1], but got "
                         f"max value {weights.min():.5f}, min value {weights.max():.5f}"
                         f" (smallest weight {weights.min():g}, largest {weights.max():g}).")
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not abs(1.0 - weights.sum()) <= atol:
        raise ValueError("The parameter 'weights' should be normalized, but got "
                         f"sum(weights) = {weights.sum():.5f}")
    return weights.astype(np.float64)


def check_means(means, n_components, n_features):
    means = _as_float_array(means, "means")
    _check_shape(means, (n_components, n_features), "means")
    return means.astype(np.float64)


def check_precisions(precisions, covariance_type, n_components, n_features):
    precisions = _as_float_array(precisions, f"{covariance_type} precision")
    shape = {"full": (n_components, n_features, n_features),
             "tied": (n_features, n_features),
             "diag": (n_components, n_features),
             "spherical": (n_components,)}[covariance_type]
    _check_shape(precisions, shape, f"{covariance_type} precision")
    precisions = precisions.astype(np.float64)
    if covariance_type in ("full", "tied"):
        batch = precisions[None] if covariance_type == "tied" else precisions
        for k, p in enumerate(batch):
            if not (np.allclose(p, p.T) and (np.linalg.eigvalsh(p) > 0).all()):
                which = "" if covariance_type == "tied" else f" (component {k})"
                raise ValueError(f"'{covariance_type} precision' should be symmetric, "
                                 f"positive-definite{which}")
    elif (precisions <= 0).any():
        raise ValueError(f"'{covariance_type} precision' should be positive")
    return precisions


def _as_float_array(a, name):
    a = np.asarray(a)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if np.isnan(a).any():
        raise ValueError(f"Input contains NaN. (fastem: in the parameter '{name}'.)")
    if not np.isfinite(a).all():
        raise ValueError(f"Input contains infinity or a value too large for {a.dtype!r}. "
                         f"(fastem: in the parameter '{name}'.)")
    return a


def _check_shape(param, param_shape, name):
    if param.shape != param_shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {param_shape}, "
                         f"but got {param.shape}")


def check_is_fitted(est):
    if not hasattr(est, "means_"):
        raise sklearn_compatible(NotFittedError)(
            f"This {type(est).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator.")


def check_n_features(est, X):
    if X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input.")


def _get_feature_names(X):
    """Column names of a pandas or polars DataFrame (object array) when they are all
    strings, else None: scikit-learn's ``_get_feature_names`` without narwhals."""
    if (type(X).__module__.split(".")[0] not in ("pandas", "polars", "modin")
            or not hasattr(X, "columns")):  # a DataFrame (a Series has no columns)
        return None
    feature_names = np.asarray(list(X.columns), dtype=object)
    if len(feature_names) == 0:
        return None
    types = sorted(t.__qualname__ for t in set(type(v) for v in feature_names))
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. "
            "If you want feature names to be stored and validated, you must convert "
            "them all to strings, by using X.columns = X.columns.astype(str) for "
            "example. Otherwise you can remove feature / column names from your input "
            "data, or convert them all to a non-string data type.")
    if len(types) == 1 and types[0] == "str":
        return feature_names
    return None


def check_feature_names(est, X, *, reset):
    """scikit-learn's ``_check_feature_names``: ``fit`` (reset=True) stores a
    DataFrame's column names as ``feature_names_in_``; later calls raise when the
    names differ (or are reordered) and warn when only one side has names."""
    name = type(est).__name__
    X_names = _get_feature_names(X)
    if reset:
        if X_names is not None:
            est.feature_names_in_ = X_names
        elif hasattr(est, "feature_names_in_"):
            del est.feature_names_in_  # refitted on data without names
        return
    fitted_names = getattr(est, "feature_names_in_", None)
    if fitted_names is None and X_names is None:
        return
    if fitted_names is None:
        warnings.warn(f"X has feature names, but {name} was fitted without feature names",
                      UserWarning, stacklevel=4)
        return
    if X_names is None:
        warnings.warn("X does not have valid feature names, but"
                      f" {name} was fitted with feature names", UserWarning, stacklevel=4)
        return
    if len(fitted_names) == len(X_names) and np.all(fitted_names == X_names):
        return

    def listed(names, max_n_names=5):
        shown = [f"- {n}\n" for n in names[:max_n_names]]
        return "".join(shown) + ("- ...\n" if len(names) > max_n_names else "")

    unexpected = sorted(set(X_names) - set(fitted_names))
    missing = sorted(set(fitted_names) - set(X_names))
    message = "The feature names should match those that were passed during fit.\n"
    if unexpected:
        message += "Feature names unseen at fit time:\n" + listed(unexpected)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + listed(missing)
    if not unexpected and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)
