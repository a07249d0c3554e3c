"""Exceptions and warnings, named and shaped like scikit-learn's (no sklearn import).

When scikit-learn is already imported, fastem raises and warns with
``sklearn_compatible(cls)``: a subclass of both fastem's class and scikit-learn's
of the same name, so code catching or filtering either class sees it.
"""
import sys


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted model is called before ``fit``."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the lower bound changed by less than ``tol``."""


_BRIDGED = {}


def sklearn_compatible(cls):
    """``cls`` (NotFittedError or ConvergenceWarning), also an instance of scikit-learn's
    class of the same name when ``sklearn.exceptions`` is already imported.

    A user who filters, catches or ``pytest.warns`` scikit-learn's class has imported
    it, so checking ``sys.modules`` is enough and ``import fastem`` never imports
    scikit-learn."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    if sklearn_exceptions is None:
        return cls
    if cls not in _BRIDGED:
        _BRIDGED[cls] = type(cls.__name__, (cls, getattr(sklearn_exceptions, cls.__name__)),
                             {"__module__": cls.__module__, "__doc__": cls.__doc__,
                              # pickles (e.g. from a joblib worker) as fastem's own class
                              "__reduce__": lambda self: (cls, self.args)})
    return _BRIDGED[cls]
