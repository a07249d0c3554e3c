"""fastem: fast Gaussian-mixture EM in Numba, a drop-in for scikit-learn's GaussianMixture.

``import fastem`` is light: it imports NumPy only. Numba kernels are imported
and loaded from the on-disk cache on first use.
"""
from .exceptions import ConvergenceWarning, NotFittedError
from .mixture import GaussianMixture
from .online import MiniBatchGaussianMixture
from .bayesian import BayesianGaussianMixture
from .semi_supervised import SemiSupervisedGaussianMixture
from .selection import ModelSelectionResult, select_model
from ._io import load
from ._parallel import get_num_threads, set_num_threads
from ._config import VERSION as __version__

__all__ = ["GaussianMixture", "BayesianGaussianMixture", "MiniBatchGaussianMixture",
           "SemiSupervisedGaussianMixture", "select_model", "ModelSelectionResult", "load",
           "ConvergenceWarning", "NotFittedError",
           "get_num_threads", "set_num_threads", "__version__"]
