"""fastem.BayesianGaussianMixture: speed, memory and fit quality per covariance type and
dtype, and its speed relative to scikit-learn's."""
import time

from .common import COVARIANCE_TYPES, DTYPES, ITERS, N_COMPONENTS, SEED, blobs, quiet_fit

from fastem import BayesianGaussianMixture  # noqa: E402 (after the import fallback in common)


def bayesian_model(cls, covariance_type, max_iter=ITERS):
    """An estimator (fastem or sklearn) running exactly max_iter iterations from a
    seed-row start (the same rows for both libraries)."""
    return cls(n_components=N_COMPONENTS, covariance_type=covariance_type, max_iter=max_iter,
               tol=0.0, init_params="random_from_data", random_state=SEED)


class BayesianFitSuite:
    params = (COVARIANCE_TYPES, DTYPES)
    param_names = ["covariance_type", "dtype"]
    timeout = 300

    def setup(self, covariance_type, dtype):
        self.X = blobs(dtype)
        # Fit once: compiles (or loads) the kernels, so time_* is the steady state.
        self.model = quiet_fit(bayesian_model(BayesianGaussianMixture, covariance_type),
                               self.X)

    def time_fit(self, covariance_type, dtype):
        """A fit of ITERS variational iterations (with its start and priors)."""
        quiet_fit(bayesian_model(BayesianGaussianMixture, covariance_type), self.X)

    def time_predict(self, covariance_type, dtype):
        self.model.predict(self.X)

    def peakmem_fit(self, covariance_type, dtype):
        quiet_fit(bayesian_model(BayesianGaussianMixture, covariance_type), self.X)

    def track_lower_bound(self, covariance_type, dtype):
        return float(self.model.lower_bound_)

    track_lower_bound.unit = "variational lower bound"


class BayesianSklearnRatio:
    """scikit-learn s/iter over fastem s/iter (fit(1 + ITERS) - fit(1), best of n_fits;
    scikit-learn in the faster of its thread-pool settings)."""

    params = (COVARIANCE_TYPES, DTYPES)
    param_names = ["covariance_type", "dtype"]
    timeout = 600
    n_fits = 3

    def setup(self, covariance_type, dtype):
        try:
            import threadpoolctl  # noqa: F401 (ships with scikit-learn)
            from sklearn.mixture import BayesianGaussianMixture as SklearnBGM
        except ImportError:
            raise NotImplementedError("scikit-learn is not installed (pip install fastem[bench])")
        self.sklearn_cls = SklearnBGM
        self.X = blobs(dtype)
        quiet_fit(bayesian_model(BayesianGaussianMixture, covariance_type), self.X)  # JIT

    def _seconds_per_iteration(self, cls, covariance_type):
        def fit_seconds(max_iter):
            model = bayesian_model(cls, covariance_type, max_iter)
            t0 = time.perf_counter()
            quiet_fit(model, self.X)
            return time.perf_counter() - t0
        return min(max(fit_seconds(1 + ITERS) - fit_seconds(1), 1e-9) / ITERS
                   for _ in range(self.n_fits))

    def track_speed_ratio_vs_sklearn(self, covariance_type, dtype):
        from threadpoolctl import threadpool_limits
        fastem = self._seconds_per_iteration(BayesianGaussianMixture, covariance_type)
        sklearn = self._seconds_per_iteration(self.sklearn_cls, covariance_type)
        with threadpool_limits(limits=1):
            sklearn = min(sklearn, self._seconds_per_iteration(self.sklearn_cls,
                                                               covariance_type))
        return sklearn / fastem

    track_speed_ratio_vs_sklearn.unit = "ratio"
