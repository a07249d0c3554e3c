"""fastem.GaussianMixture: speed, memory and fit quality per covariance type and dtype."""
import time

from .common import (BENCH_DIR, COVARIANCE_TYPES, DTYPES, SYS_PATH_SETUP, blobs,
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


class FirstFit:
    """The first fit in a fresh process, with the Numba cache already on disk."""

    params = [COVARIANCE_TYPES]
    param_names = ["covariance_type"]
    timeout = 300

    def setup(self, covariance_type):
        # A fit here writes the kernels to Numba's on-disk cache, so the fresh
        # process below loads them instead of compiling.
        X = blobs("float64")
        quiet_fit(fixed_start_model(GaussianMixture, X, covariance_type), X)

    def timeraw_first_fit(self, covariance_type):
        # Untimed setup in the fresh process: imports and data; timed: the fit.
        setup = (f"import sys; sys.path.insert(0, {BENCH_DIR!r})\n"
                 "import warnings\n"
                 "warnings.simplefilter('ignore')\n"
                 "from common import blobs, fixed_start_model\n"
                 "import fastem\n"
                 "X = blobs('float64')\n"
                 f"model = fixed_start_model(fastem.GaussianMixture, X, {covariance_type!r})\n")
        return "model.fit(X)", setup
