"""fastem.GaussianMixture: speed, memory and fit quality per covariance type and dtype."""
import time

from .common import (BENCH_DIR, COVARIANCE_TYPES, DTYPES, N_COMPONENTS, SYS_PATH_SETUP, blobs,
                     fixed_start_model, quiet_fit)

from fastem import GaussianMixture  # noqa: E402 (after the import fallback in common)


class FitSuite:
    """Benchmarks over covariance_type x dtype from the same start parameters."""

    params = (COVARIANCE_TYPES, DTYPES)
    param_names = ["covariance_type", "dtype"]
    timeout = 300

    def setup(self, covariance_type, dtype):
        self.X = blobs(dtype)
        # Fit once: compiles (or loads) the kernels of this type and dtype, so
        # time_* measures the steady state, and gives predict a fitted model.
        self.model = quiet_fit(fixed_start_model(GaussianMixture, self.X, covariance_type),
                               self.X)

    def time_fit_iteration(self, covariance_type, dtype):
        """A fit of exactly ITERS EM iterations from the fixed start (divide by ITERS)."""
        quiet_fit(fixed_start_model(GaussianMixture, self.X, covariance_type), self.X)

    def time_predict(self, covariance_type, dtype):
        self.model.predict(self.X)

    def peakmem_fit(self, covariance_type, dtype):
        quiet_fit(fixed_start_model(GaussianMixture, self.X, covariance_type), self.X)

    def track_lower_bound(self, covariance_type, dtype):
        """Per-sample log-likelihood after ITERS iterations: fit quality next to speed."""
        return float(self.model.lower_bound_)

    track_lower_bound.unit = "log-likelihood per sample"


class SklearnRatio:
    """sklearn s/iter over fastem s/iter, both from the same start, measured together
    (sklearn: the faster of its thread pools as they are and limited to one thread)."""

    params = (COVARIANCE_TYPES, DTYPES)
    param_names = ["covariance_type", "dtype"]
    timeout = 600
    n_fits = 3  # fits per library; the best of each is kept

    def setup(self, covariance_type, dtype):
        try:
            import threadpoolctl  # noqa: F401 (ships with scikit-learn)
            from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
        except ImportError:
            raise NotImplementedError("scikit-learn is not installed (pip install fastem[bench])")
        self.sklearn_cls = SklearnGaussianMixture
        self.X = blobs(dtype)
        quiet_fit(fixed_start_model(GaussianMixture, self.X, covariance_type), self.X)  # JIT

    def _seconds_per_iteration(self, cls, covariance_type):
        best = float("inf")
        for _ in range(self.n_fits):
            model = fixed_start_model(cls, self.X, covariance_type)
            t0 = time.perf_counter()
            quiet_fit(model, self.X)
            best = min(best, (time.perf_counter() - t0) / max(model.n_iter_, 1))
        return best

    def track_speed_ratio_vs_sklearn(self, covariance_type, dtype):
        from threadpoolctl import threadpool_limits
        fastem = self._seconds_per_iteration(GaussianMixture, covariance_type)
        # sklearn in its faster threading mode, as in python -m fastem.bench.
        sklearn = self._seconds_per_iteration(self.sklearn_cls, covariance_type)
        with threadpool_limits(limits=1):
            sklearn = min(sklearn, self._seconds_per_iteration(self.sklearn_cls, covariance_type))
        return sklearn / fastem

    track_speed_ratio_vs_sklearn.unit = "ratio"


class Import:
    """``import fastem`` in a fresh interpreter (it should not import Numba)."""

    def timeraw_import(self):
        # (stmt, setup): only the statement is timed.
        return "import fastem", SYS_PATH_SETUP


# Code run first in the fresh interpreter of a cold benchmark: an empty Numba cache of
# its own (removed at exit). fastem imports Numba on first use, so this comes in time.
EMPTY_NUMBA_CACHE = ("import atexit, os, shutil, tempfile\n"
                     "os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp(prefix='fastem-asv-')\n"
                     "atexit.register(shutil.rmtree, os.environ['NUMBA_CACHE_DIR'], True)\n")


def _first_call_setup(covariance_type, fitted):
    """Setup code of a fresh interpreter: imports and data (and the fit, for predict)."""
    code = (f"import sys; sys.path.insert(0, {BENCH_DIR!r})\n"
            "import warnings\n"
            "warnings.simplefilter('ignore')\n"
            "from common import N_COMPONENTS, blobs\n"
            "import fastem\n"
            "X = blobs('float64')\n"
            # the user's first fit: default (k-means) initialisation
            f"model = fastem.GaussianMixture(N_COMPONENTS, covariance_type={covariance_type!r}, "
            "random_state=0)\n")
    return code + ("model.fit(X)\n" if fitted else "")


class FirstCall:
    """The first fit and the first predict in a fresh process (Numba imported inside the
    first fit, as for a user): cold, with an empty Numba cache (everything compiles), and
    warm, with the cache that setup() wrote (kernels load from disk)."""

    params = [COVARIANCE_TYPES]
    param_names = ["covariance_type"]
    repeat = 1  # each sample is a fresh interpreter; a cold one compiles every kernel
    timeout = 600

    def setup(self, covariance_type):
        # Writes this type's kernels to Numba's default on-disk cache for the warm runs.
        X = blobs("float64")
        model = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, random_state=0)
        quiet_fit(model, X).predict(X)

    def timeraw_cold_first_fit(self, covariance_type):
        return "model.fit(X)", EMPTY_NUMBA_CACHE + _first_call_setup(covariance_type, False)

    def timeraw_cold_first_predict(self, covariance_type):
        return "model.predict(X)", EMPTY_NUMBA_CACHE + _first_call_setup(covariance_type, True)

    def timeraw_warm_first_fit(self, covariance_type):
        return "model.fit(X)", _first_call_setup(covariance_type, False)

    def timeraw_warm_first_predict(self, covariance_type):
        return "model.predict(X)", _first_call_setup(covariance_type, True)


class SmallData:
    """Latency of whole fits on data of one partition (the compiled EM loop, k-means, the
    Python overhead around them): an iris-sized fit and a select_model grid."""

    timeout = 300

    def setup(self):
        import fastem
        self.select_model = fastem.select_model
        self.iris_like = blobs("float64", n_samples=150, n_features=4, n_components=3)
        self.grid_data = blobs("float64", n_samples=2000, n_features=4, n_components=4)
        quiet_fit(GaussianMixture(3, random_state=0), self.iris_like)  # compile / load
        self.time_select_model()

    def time_iris_sized_fit(self):
        """150 x 4, K=3, default k-means start and tol: the whole fit."""
        quiet_fit(GaussianMixture(3, random_state=0), self.iris_like)

    def time_select_model(self):
        """2000 x 4, K 1..8 x the four covariance types, BIC and AIC of each."""
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.select_model(self.grid_data, n_components=range(1, 9), random_state=0)
