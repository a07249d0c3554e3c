"""Ctrl-C safety: an interrupt at any moment of a fit raises KeyboardInterrupt, leaves
the estimator as it was (fit assigns its fitted state in one step at the end) and
leaves the process able to fit again.

Two things used to break that:

* an interrupt landing inside the lazy ``import numba`` left half-imported
  modules in ``sys.modules`` (every later fit: "module 'numba' has no attribute
  'core'"). The kernels are now imported with SIGINT deferred until the import
  is complete, and a failed import is removed from ``sys.modules`` whole;
* an interrupt noticed inside a compiled call surfaces as ``SystemError:
  CPUDispatcher(...) returned a result with an exception set``; it is raised
  as the KeyboardInterrupt it is.
"""
import functools
import importlib
import signal
import sys
import threading

# Imported before the first fit. A package whose import is interrupted after some
# of its submodules were imported is what breaks later imports; an interrupted
# submodule import (a kernel module, numba's lazy imports) is simply retried.
KERNEL_MODULES = ("numba", "fastem._kernels")
_HALF_IMPORTABLE = ("numba", "llvmlite", "fastem._kernels")


def import_kernels():
    """Import KERNEL_MODULES once; a Ctrl-C meanwhile is raised after the import."""
    if all(name in sys.modules for name in KERNEL_MODULES):
        return
    new_roots = [root for root in _HALF_IMPORTABLE if root not in sys.modules]
    with _deferred_interrupts():
        try:
            for name in KERNEL_MODULES:
                importlib.import_module(name)
        except BaseException:
            _forget_partial_imports(new_roots)
            raise


def kernel_module(name):
    """The kernel module ``fastem._kernels.<name>`` (a covariance type, 'em_loop', ...),
    imported on first use: numba is slow to import, and a Ctrl-C during that first
    import must not break it."""
    import_kernels()
    return importlib.import_module(f"fastem._kernels.{name}")


def _forget_partial_imports(roots):
    """Drop every module of a failed import of the packages ``roots``, so that the
    next import starts afresh (otherwise ``numba.core`` survives while ``numba``
    does not, and a re-import of ``numba`` never sets its ``core`` attribute)."""
    for name in list(sys.modules):
        if any(name == root or name.startswith(root + ".") for root in roots):
            del sys.modules[name]


class _deferred_interrupts:
    """Within this block SIGINT is recorded, not raised; on leaving, a recorded
    SIGINT is handed to the previous handler (normally: KeyboardInterrupt).
    Only the main thread can set signal handlers; elsewhere this does nothing."""

    def __enter__(self):
        self.received = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._record)
        return self

    def _record(self, signum, frame):
        self.received = True

    def __exit__(self, *exc_info):
        if self.previous is None:
            return False
        signal.signal(signal.SIGINT, self.previous)
        if self.received and callable(self.previous):
            self.previous(signal.SIGINT, None)  # default_int_handler raises KeyboardInterrupt
        return False


def interrupted(exc):
    """Whether ``exc`` is a SystemError caused by a KeyboardInterrupt in a compiled call."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def interrupt_safe(fit):
    """Decorator of a fit method: kernels imported with SIGINT deferred, and a
    KeyboardInterrupt wrapped in a SystemError by a compiled call raised as such."""
    @functools.wraps(fit)
    def wrapper(*args, **kwargs):
        import_kernels()
        try:
            return fit(*args, **kwargs)
        except SystemError as exc:
            if interrupted(exc):
                raise KeyboardInterrupt from None
            raise
    return wrapper
