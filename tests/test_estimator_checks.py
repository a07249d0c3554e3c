"""scikit-learn's own estimator checks, run on fastem.GaussianMixture (which does not
inherit from scikit-learn: it must behave like an estimator on its own)."""
import functools
import warnings

import pytest

import fastem

sklearn_checks = pytest.importorskip("sklearn.utils.estimator_checks")
from unittest import SkipTest  # what scikit-learn raises to skip a check  # noqa: E402


def _collect_checks():
    with warnings.catch_warnings():
        # Expected and harmless: fastem must not depend on scikit-learn at runtime.
        warnings.filterwarnings("ignore", message=".*does not inherit from",
                                category=UserWarning)
        return list(sklearn_checks.estimator_checks_generator(
            fastem.GaussianMixture(), legacy=True))


def _check_id(value):
    if isinstance(value, functools.partial):
        return value.func.__name__
    return type(value).__name__


CHECKS = _collect_checks()


def test_the_full_list_of_checks_is_collected():
    names = {_check_id(check) for _, check in CHECKS}
    assert len(names) > 30
    for name in ("check_estimators_unfitted", "check_fit_idempotent",
                 "check_n_features_in_after_fitting", "check_estimators_pickle",
                 "check_sample_weight_equivalence_on_dense_data",
                 "check_dtype_object", "check_fit2d_1sample"):
        assert name in names, name


@pytest.mark.parametrize("estimator, check", CHECKS, ids=_check_id)
def test_sklearn_estimator_check(estimator, check):
    with warnings.catch_warnings():
        # The checks run a few EM iterations on random data; scikit-learn's checks
        # silence their own ConvergenceWarning class the same way.
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        try:
            check(estimator)
        except SkipTest as exc:
            pytest.skip(str(exc))


def test_check_estimator_passes():
    """The one-call form users run, with failures raised."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not inherit from",
                                category=UserWarning)
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        warnings.simplefilter("ignore", sklearn_checks.SkipTestWarning)
        sklearn_checks.check_estimator(fastem.GaussianMixture())
