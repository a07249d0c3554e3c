"""Semi-supervised Gaussian mixture: labelled rows seed the model and keep their class.

``SemiSupervisedGaussianMixture`` fits one Gaussian (or ``n_components_per_class``
Gaussians) per class of ``y`` to all rows of ``X``, labelled or not:

* the start comes from the labelled rows only: class frequencies, class means
  and class covariances (+ reg_covar), computed by the same fused kernel as
  every EM pass (each labelled row clamped to its class, unlabelled rows
  given weight 0);
* ``mode='clamp'`` (default) then runs EM in which every labelled row keeps a
  one-hot responsibility for its class (Nigam et al. 2000); ``mode='seed'``
  runs ordinary EM from that start.

Clamping is a per-row class index handed to the kernels (``row_label``), so a
semi-supervised iteration is the same single fused pass as an unsupervised
one. EM-lambda (``unlabeled_weight``) is folded into the per-row weights.
"""
import functools
import numbers
import warnings

import numpy as np

from . import _linalg
from ._base import BaseMixture, Task, component_outputs
from ._config import CHUNK_ROWS
from ._init import hard_assignment_moments
from ._sources import in_memory
from ._stats import Params, pass_job
from ._validation import check_params

MODES = ("clamp", "seed")


class ShrunkStartWarning(UserWarning):
    """Some components had too few labelled rows for their covariance, so their
    start was shrunk towards the data's per-feature variance (see the docstring)."""

class DataConversionWarning(UserWarning):
    """y was passed as a column vector and was flattened (scikit-learn's name)."""


class SemiSupervisedGaussianMixture(BaseMixture):
    """Gaussian mixture classifier fitted by semi-supervised EM.

    Component k stands for class ``classes_[k // n_components_per_class]``
    (with one component per class, ``means_[k]`` is the mean of ``classes_[k]``;
    with several, ``means_[k]`` is the mean of one component of class
    ``classes_[k // n_components_per_class]``, and ``class_means_`` the weighted
    mean of each class's components).
    The labelled rows give the start: weights are the class frequencies among
    the labelled rows, means and covariances (+ ``reg_covar``) those of each
    class's labelled rows. EM then runs over all rows, and the unlabelled rows
    determine the covariances.

    A handful of labelled rows per class is enough. A component whose labelled
    weight n is below what its covariance needs (``needed`` = n_features + 1
    rows for 'full', 2 for 'diag' and 'spherical'; for 'tied', n_components +
    n_features rows in all) starts from the shrunk estimate
    ``(n S + needed T) / (n + needed)``, where S is the scatter of its labelled
    rows and T the per-feature variance of all rows of X (a diagonal matrix for
    'full'/'tied', its mean for 'spherical'), plus ``reg_covar``; a
    ``ShrunkStartWarning`` names the classes concerned.

    Parameters
    ----------
    n_components : int or None, default=None
        None: number of classes x ``n_components_per_class``. When given it
        must equal that number.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        Convergence threshold on the change of ``lower_bound_`` between iterations.
    reg_covar : float, default=1e-6
        Added to the covariance diagonals.
    max_iter : int, default=100
    mode : {'clamp', 'seed'}, default='clamp'
        'clamp': every labelled row keeps responsibility 1 for its class during
        EM (a labelled row shares it among its class's components only).
        'seed': the labels give the start only; then ordinary EM.
    unlabeled_weight : float in [0, 1], default=1.0
        lambda of EM-lambda: every unlabelled row counts lambda times (times its
        sample_weight), in the E-step totals and so in the weights, means and
        covariances; applies in both modes. With mode='clamp', 0 gives the
        supervised per-class estimate (QDA-like) of the labelled rows.
    n_components_per_class : int, default=1
        Components per class. With more than one, each class's labelled rows
        are sorted along the class's first principal axis and cut into that
        many groups of (nearly) equal count, one per component, to start the
        class's components (deterministic; EM then moves them).
    random_state : int, RandomState instance or None, default=None
        Seeds ``sample`` only: the fit itself is deterministic.
    verbose, verbose_interval : int
        As in :class:`GaussianMixture`.
    chunk_size : int or str, optional
        As in :class:`GaussianMixture` (memory-mapped input).

    GaussianMixture's other parameters (n_init, init_params, weights_init,
    means_init, precisions_init, warm_start, ...) do not apply: the start
    always comes from the labels. X may be an array, a memory-mapped array
    (read in chunks; only the labelled rows are gathered for the start) or a
    dask array (fitted blockwise as in GaussianMixture; predictions are lazy).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels found among the labelled rows, sorted.
    weights_, means_, covariances_, precisions_, precisions_cholesky_ :
        The mixture parameters, shapes as in :class:`GaussianMixture` with
        K = n_classes x n_components_per_class components, grouped by class.
    lower_bound_ : float
        The objective EM maximises, per unit of row weight, at the last
        iteration. 'clamp': ``(sum_labelled w log sum_{k in class(y)} pi_k N(x|k)
        + lambda sum_unlabelled w log p(x)) / (sum_labelled w + lambda
        sum_unlabelled w)``; 'seed': the same with every row unlabelled (the
        mixture's mean log-likelihood, unlabelled rows weighted by lambda).
    lower_bounds_ : list of float
        That value at every iteration, for the parameters before that
        iteration's M-step (non-decreasing up to rounding when reg_covar=0).
    class_means_ : ndarray of shape (n_classes, n_features)
        Mean of each class under the model: the weight-averaged means of its
        components (equal to ``means_`` with one component per class).
    converged_ : bool
    n_iter_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import SemiSupervisedGaussianMixture
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(4, 1, (50, 2))])
    >>> y = np.full(100, -1)
    >>> y[:3], y[50:53] = 0, 1
    >>> model = SemiSupervisedGaussianMixture().fit(X, y)
    >>> model.predict([[0.0, 0.0], [4.0, 4.0]]).tolist()
    [0, 1]
    """

    def __init__(self, n_components=None, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, mode="clamp", unlabeled_weight=1.0,
                 n_components_per_class=1, random_state=None, verbose=0,
                 verbose_interval=10, chunk_size=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.mode = mode
        self.unlabeled_weight = unlabeled_weight
        self.n_components_per_class = n_components_per_class
        self.random_state = random_state
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so importing it here adds no dependency.
        from sklearn.base import BaseEstimator
        from sklearn.utils import ClassifierTags
        tags = BaseEstimator.__sklearn_tags__(self)
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        tags.target_tags.required = True
        return tags

    # The start always comes from the labels: one start, never a warm one.
    n_init = 1
    warm_start = False

    # --------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Fit the mixture to all rows of X, using the labelled rows of y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class label of each row (integers or strings), -1 for an unlabelled
            row (for string labels, -1 or '-1').
        sample_weight : array-like of shape (n_samples,), optional
            Frequency weights of the rows.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight)
        return self

    def fit_predict(self, X, y, sample_weight=None):
        """Fit, then return ``predict(X)``."""
        return self._per_row(self._fit(X, y, sample_weight), "labels")

    def _prepare(self, source, y, sample_weight):
        """The labels -> components, the start from the labelled rows, EM-lambda weights."""
        name = type(self).__name__
        self._check_semi_params()
        n_samples, n_features = source.shape
        classes, row_label = _encode_labels(y, n_samples, name)
        n_classes = classes.shape[0]
        per_class = self.n_components_per_class
        n_components = n_classes * per_class
        if self.n_components is not None and self.n_components != n_components:
            raise ValueError(
                f"n_components={self.n_components} does not match y: it must equal the "
                f"number of classes ({n_classes}) x n_components_per_class ({per_class}) "
                f"= {n_components}, or be None.")
        check_params(self, n_samples, n_features, n_components=n_components)

        labelled = row_label >= 0
        labelled_weight = np.where(labelled, 1.0, 0.0)
        if sample_weight.shape[0]:
            labelled_weight *= sample_weight
        component_class = np.repeat(np.arange(n_classes, dtype=np.int64), per_class)
        component_label = self._component_labels(source, row_label, labelled_weight, classes)
        start = self._labelled_start(source, n_components, labelled_weight, component_label,
                                     sample_weight, classes)
        # EM-lambda: the unlabelled rows' weights scaled by lambda (empty: all ones).
        row_weight = sample_weight
        if self.unlabeled_weight != 1.0 and not labelled.all():
            row_weight = sample_weight.copy() if sample_weight.shape[0] else np.ones(n_samples)
            row_weight[~labelled] *= self.unlabeled_weight
        em_label = row_label if self.mode == "clamp" else np.empty(0, dtype=np.int64)
        return Task(n_components, row_weight, em_label, component_class, start=start,
                    extra={"classes_": classes})

    def _initial_parameters(self, source, task, random_state):
        return task.start  # made from the labels in _prepare: no rows read, no draws

    def _store(self, run, task, n_features, dtype):
        super()._store(run, task, n_features, dtype)
        n_classes = self.classes_.shape[0]
        per_class = self.n_components_per_class
        weights = self.weights_.reshape(n_classes, per_class)
        self.class_means_ = np.einsum(
            "cp,cpd->cd", weights / weights.sum(axis=1, keepdims=True),
            self.means_.reshape(n_classes, per_class, n_features))

    def _check_semi_params(self):
        name = type(self).__name__
        if self.mode not in MODES:
            raise ValueError(f"The 'mode' parameter of {name} must be a str among "
                             f"{set(MODES)}. Got {self.mode!r} instead.")
        lam = self.unlabeled_weight
        if (not isinstance(lam, numbers.Real) or isinstance(lam, bool)
                or not 0.0 <= lam <= 1.0):
            raise ValueError(f"The 'unlabeled_weight' parameter of {name} must be a float "
                             f"in the range [0.0, 1.0]. Got {lam!r} instead.")
        per_class = self.n_components_per_class
        if (not isinstance(per_class, numbers.Integral) or isinstance(per_class, bool)
                or per_class < 1):
            raise ValueError(f"The 'n_components_per_class' parameter of {name} must be an "
                             f"int in the range [1, inf). Got {per_class!r} instead.")
        k = self.n_components
        if k is not None and (not isinstance(k, numbers.Integral) or isinstance(k, bool)
                              or k < 1):
            raise ValueError(f"The 'n_components' parameter of {name} must be None or an "
                             f"int in the range [1, inf). Got {k!r} instead.")

    # ---------------------------------------------------------- initialisation
    def _component_labels(self, source, row_label, labelled_weight, classes):
        """Component of each labelled row at the start (unlabelled rows: 0, weight 0).

        One component per class: the class index. Several: equal-count groups
        along the class's first principal axis. Refuses a class whose labelled
        rows cannot determine its components' covariances.
        """
        per_class = self.n_components_per_class
        positive = labelled_weight > 0
        counts = np.bincount(row_label[positive], minlength=classes.shape[0])
        for c, count in enumerate(counts):
            if count == 0:
                raise ValueError(
                    f"No labelled row of class {_label_text(classes[c])} has a positive "
                    "sample_weight, so its component(s) have nothing to start from. "
                    "Give some of its rows a positive weight, or drop the class from y.")
            if count < per_class:
                raise ValueError(
                    f"Class {_label_text(classes[c])} has {count} labelled row(s) with a "
                    f"positive sample_weight, fewer than its {per_class} component(s): "
                    "each component starts from at least one labelled row. Label more "
                    "rows or lower n_components_per_class.")
        component_label = np.where(row_label >= 0, row_label * per_class, 0)
        if per_class == 1:
            return component_label
        for c in range(classes.shape[0]):
            rows = np.flatnonzero(positive & (row_label == c))
            component_label[rows] += _principal_split(source.take(rows),
                                                      labelled_weight[rows], per_class)
        return component_label

    def _labelled_start(self, source, n_components, labelled_weight, component_label,
                        sample_weight, classes):
        """Start parameters from the labelled rows only.

        Weights: the components' shares of the labelled weight (class
        frequencies). Means and covariances (+ reg_covar): the fused kernel's
        statistics of the labelled rows, each clamped to its component and
        centred on NumPy means of those rows, then the ordinary M-step; a
        component with too few labelled rows for its covariance gets the
        shrunk estimate of the class docstring (``_shrink_short_components``).
        """
        labelled_index = np.flatnonzero(labelled_weight > 0)
        # Few labelled rows (the usual case) are read once and the kernel reads
        # only them; many are read in chunks, then one pass over X in which
        # unlabelled rows have weight 0.
        few = labelled_index.shape[0] <= CHUNK_ROWS
        chunks = ([(labelled_index, source.take(labelled_index))] if few
                  else _row_chunks_at(source, labelled_index))
        sums = np.zeros((n_components, source.n_features))
        totals = np.zeros(n_components)
        for part, rows in chunks:
            onehot = np.zeros((part.shape[0], n_components))
            onehot[np.arange(part.shape[0]), component_label[part]] = labelled_weight[part]
            sums += onehot.T @ rows.astype(np.float64)
            totals += onehot.sum(axis=0)
        centres = sums / totals[:, None]
        if few:
            nk, means, covariances = hard_assignment_moments(
                in_memory(rows), labelled_weight[labelled_index],
                component_label[labelled_index], centres, self.covariance_type,
                self.reg_covar)
        else:
            nk, means, covariances = hard_assignment_moments(
                source, labelled_weight, component_label, centres, self.covariance_type,
                self.reg_covar)
        covariances = self._shrink_short_components(source, nk, covariances, sample_weight,
                                                    classes)
        prec_chol = _linalg.precision_cholesky(covariances, self.covariance_type,
                                               self.reg_covar, source.dtype)
        return Params(nk / nk.sum(), np.ascontiguousarray(means), covariances,
                      np.ascontiguousarray(prec_chol), self.covariance_type)

    def _shrink_short_components(self, source, nk, covariances, sample_weight, classes):
        """Covariances of components whose labelled weight ``nk`` is below what
        their covariance needs, shrunk: (nk S + needed T) / (nk + needed) + reg_covar,
        T = the per-feature variance of all rows (sample-weighted). Warns."""
        ctype = self.covariance_type
        n_components, n_features = nk.shape[0], source.n_features
        needed = {"full": n_features + 1, "diag": 2, "spherical": 2,
                  "tied": n_components + n_features}[ctype]
        counts = np.array([nk.sum()]) if ctype == "tied" else nk
        short = counts < needed
        if not short.any():
            return covariances
        weights = sample_weight if sample_weight.shape[0] else np.ones(source.n_samples)
        variance = _feature_variances(source, weights)
        target = {"full": np.diag(variance), "tied": np.diag(variance), "diag": variance,
                  "spherical": variance.mean()}[ctype]
        scatter = covariances - _regularisation(self.reg_covar, ctype, n_features)
        blend = counts / (counts + needed)
        shrunk = np.array(scatter if ctype != "tied" else scatter[None], copy=True)
        for k in np.flatnonzero(short):
            shrunk[k] = blend[k] * shrunk[k] + (1.0 - blend[k]) * target
        shrunk = shrunk[0] if ctype == "tied" else shrunk
        per_class = self.n_components_per_class
        which = ("the shared 'tied' covariance" if ctype == "tied" else "class(es) " + ", ".join(
            _label_text(classes[c]) for c in np.unique(np.flatnonzero(short) // per_class)))
        warnings.warn(
            f"Too few labelled rows to estimate the '{ctype}' covariance of {which} "
            f"(at least {needed} {'in all' if ctype == 'tied' else 'per component'}): its "
            "start was shrunk towards the per-feature variance of all rows, "
            f"(n S + {needed} T) / (n + {needed}); EM then estimates it from all rows. "
            "Label more rows to start from the labelled rows' own covariance.",
            ShrunkStartWarning, stacklevel=4)
        return shrunk + _regularisation(self.reg_covar, ctype, n_features)

    # ------------------------------------------------------------- predict
    def _row_function(self, kind):
        """Labels and posteriors are per class (values of ``classes_``); the
        density (``score_samples``) is the mixture's."""
        if kind not in ("labels", "proba"):
            return super()._row_function(kind)
        job = pass_job(self._current_parameters(), None)
        fn = functools.partial(_class_outputs, job, kind, self.classes_)
        if kind == "labels":
            return fn, self.classes_.dtype, None
        return fn, np.float64, self.classes_.shape[0]

    def predict(self, X):
        """Most probable class of each row (values of ``classes_``).

        A dask X gives a lazy dask array."""
        return self._per_row(self._validated(X), "labels")

    def predict_proba(self, X):
        """Class posteriors, shape (n_samples, n_classes), columns in ``classes_`` order.

        A dask X gives a lazy dask array."""
        return super().predict_proba(X)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against y (classifier convention)."""
        correct = self.predict(X) == np.asarray(y).ravel()
        return float(np.average(correct, weights=sample_weight))

    def bic(self, X):
        """Bayesian information criterion of the mixture on X (lower is better)."""
        n = np.shape(X)[0]
        return -2 * float(self.score_samples(X).sum()) + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion of the mixture on X (lower is better)."""
        return -2 * float(self.score_samples(X).sum()) + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw points from the fitted mixture; returns (X, class label of each point)."""
        X, component = super().sample(n_samples)
        per_class = self.means_.shape[0] // self.classes_.shape[0]
        return X, self.classes_[component // per_class]


# ----------------------------------------------------------------- helpers
def _encode_labels(y, n_samples, estimator_name):
    """(classes_, row_label): sorted class labels and each row's class index (-1: none)."""
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None. Give "
            "one label per row, -1 for an unlabelled row; to fit without any labels "
            "use fastem.GaussianMixture.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                      "change the shape of y to (n_samples,), for example using ravel().",
                      DataConversionWarning, stacklevel=3)
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead.")
    if y.shape[0] != n_samples:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{n_samples}, {y.shape[0]}]. y needs one entry per row of X (-1 for an "
            "unlabelled row).")
    kind = y.dtype.kind
    if kind == "f":
        if np.isnan(y).any():
            raise ValueError("Input y contains NaN. Mark an unlabelled row with -1.")
        if np.isinf(y).any():
            raise ValueError(
                f"Input y contains infinity or a value too large for {y.dtype!r}.")
        if (y != np.round(y)).any():
            raise ValueError("Unknown label type: continuous. Class labels must be "
                             "integers or strings (-1 for an unlabelled row).")
        unlabelled = y == -1
    elif kind in "iub":
        if kind == "u" and (y == np.iinfo(y.dtype).max).any():
            raise ValueError(
                f"y is unsigned ({y.dtype}) and holds {np.iinfo(y.dtype).max}, which is -1 "
                "wrapped around: an unsigned array cannot mark unlabelled rows. Pass y as "
                "signed integers (e.g. y.astype(np.int64)) with -1 for unlabelled rows.")
        unlabelled = y == -1
    elif kind in "US":
        unlabelled = y == y.dtype.type("-1")
    elif kind == "O":
        unlabelled = np.array([_is_unlabelled_marker(v) for v in y], dtype=bool)
    else:
        raise ValueError(f"Unknown label type: y of dtype {y.dtype}. Class labels must be "
                         "integers or strings (-1 for an unlabelled row).")
    values = y[~unlabelled]
    if values.shape[0] == 0:
        raise ValueError(
            "y has no labelled row (every entry is -1, the mark of an unlabelled row), "
            "so there is nothing to start or clamp the classes with. To fit a mixture "
            "without labels use fastem.GaussianMixture.")
    try:
        classes, index = np.unique(values, return_inverse=True)
    except TypeError:
        raise ValueError("The labels in y cannot be sorted (for example strings mixed "
                         "with numbers); use labels of one type.") from None
    if classes.shape[0] == 1 and unlabelled.any():
        raise ValueError(
            f"The labelled rows of y hold only one class ({_label_text(classes[0])}); at "
            "least two classes are needed. Note that -1 marks an unlabelled row and cannot be a "
            "class label: if -1 is a real class in your labels (for example y in "
            "{-1, +1}), recode it (for example to 0) before fitting.")
    row_label = np.full(n_samples, -1, dtype=np.int64)
    row_label[~unlabelled] = index.ravel()
    return classes, row_label


def _label_text(label):
    """A class label as the user wrote it (1, 'yes'), not as a NumPy scalar repr."""
    return repr(label.item() if isinstance(label, np.generic) else label)


def _principal_split(rows, weights, n_groups):
    """Group of each row: rows sorted along their first principal axis, cut into
    ``n_groups`` runs of (nearly) equal count. Deterministic; the axis sign is fixed
    so that its largest-magnitude entry is positive."""
    rows = np.asarray(rows, dtype=np.float64)
    centred = rows - (weights @ rows) / weights.sum()
    scatter = (centred * weights[:, None]).T @ centred
    axis = np.linalg.eigh(scatter)[1][:, -1]
    axis *= np.sign(axis[np.argmax(np.abs(axis))])
    order = np.argsort(centred @ axis, kind="stable")
    group = np.empty(rows.shape[0], dtype=np.int64)
    for g, members in enumerate(np.array_split(order, n_groups)):
        group[members] = g
    return group


def _is_unlabelled_marker(value):
    """Entry of an object-dtype y: -1 (or '-1') marks an unlabelled row; NaN/None are refused."""
    if value is None:
        raise ValueError("Input y contains NaN (None). Mark an unlabelled row with -1.")
    if isinstance(value, (str, np.str_)):
        return value == "-1"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value != value:
            raise ValueError("Input y contains NaN. Mark an unlabelled row with -1.")
        if not np.isfinite(value) or value != int(value):
            raise ValueError("Unknown label type: continuous. Class labels must be "
                             "integers or strings (-1 for an unlabelled row).")
        return value == -1
    return False


def _row_chunks_at(source, indices):
    """Yield (indices part, rows) for sorted ``indices``, at most CHUNK_ROWS at a time."""
    for start in range(0, indices.shape[0], CHUNK_ROWS):
        part = indices[start:start + CHUNK_ROWS]
        yield part, source.take(part)


def _feature_variances(source, weights):
    """Weighted variance of each feature over the rows of positive weight (streamed)."""
    used = np.flatnonzero(weights > 0)
    total = weights[used].sum()
    mean = np.zeros(source.n_features)
    for part, rows in _row_chunks_at(source, used):
        mean += weights[part] @ rows.astype(np.float64)
    mean /= total
    squares = np.zeros(source.n_features)
    for part, rows in _row_chunks_at(source, used):
        squares += weights[part] @ (rows.astype(np.float64) - mean) ** 2
    return squares / total


def _regularisation(reg_covar, covariance_type, n_features):
    """What the M-step adds to a covariance: reg_covar on the diagonal."""
    return reg_covar * np.eye(n_features) if covariance_type in ("full", "tied") else reg_covar


def _class_outputs(job, kind, classes, rows, threads=None):
    """Per-row class outputs: 'labels' (values of ``classes``) or 'proba' (n_classes
    columns); component k belongs to class k // (n_components / n_classes)."""
    wlp = component_outputs(job, "log_prob", rows, threads)
    n_classes = classes.shape[0]
    per_class = wlp.shape[1] // n_classes
    if per_class > 1:
        wlp = _linalg.logsumexp_rows(wlp.reshape(rows.shape[0], n_classes, per_class))
    log_posterior = wlp - _linalg.logsumexp_rows(wlp)[:, None]
    if kind == "labels":
        return classes[log_posterior.argmax(axis=1)]
    return np.exp(log_posterior)
