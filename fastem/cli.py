"""The ``fastem`` command line (also ``python -m fastem``).

::

    fastem fit data.npy -k 8 --covariance-type full [--labels labels.npy] -o model.npz
    fastem predict model.npz data.npy -o labels.npy [--proba]
    fastem score model.npz data.npy
    fastem info model.npz
    fastem bench ...

Inputs are ``.npy`` files, memory-mapped (never unpickled). Progress goes to
stderr, results to stdout or to the ``-o`` file. Exit status: 0 success,
1 a data or model problem (missing file, wrong shape, feature-count mismatch,
corrupt model...), 2 a usage error. User errors print ``fastem: error: ...``,
never a traceback; Ctrl-C prints ``fastem: interrupted`` (exit status 130).

Outputs are written to a temporary file next to the ``-o`` path and renamed
onto it only on success: a failed or interrupted command leaves every
pre-existing file as it was. An ``-o`` path that is (or links to) one of the
command's inputs is refused.
"""
import argparse
import math
import os
import stat
import sys
import warnings

import numpy as np

from ._config import CHUNK_ROWS, VERSION
from ._io import ModelFileError, atomic_replace, describe, load_with_header
from ._chunks import parse_bytes
from ._validation import COVARIANCE_TYPES, INIT_PARAMS
from ._base import reporting_iterations

PROG = "fastem"


class UserError(Exception):
    """A problem with the user's files or data: reported in one line, exit status 1."""


class _UsageError(Exception):
    """A bad command line (argparse has already printed the usage): exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` can return the status."""

    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise _UsageError(message)


# ------------------------------------------------------------------ parsing
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _chunk_size(text):
    """A row count ('100000') or a size ('64MB')."""
    if text.strip().isdigit():
        return _positive_int(text)
    try:
        parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _build_parser():
    parser = _Parser(prog=PROG, description="Fast Gaussian-mixture EM (fastem).")
    parser.add_argument("--version", action="version", version=f"fastem {VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    fit = commands.add_parser(
        "fit", help="fit a mixture to a .npy file and save the model",
        description="Fit a Gaussian mixture to a 2-D .npy array (memory-mapped) and save "
                    "it as a model file. Progress goes to stderr.")
    fit.add_argument("data", help="2-D .npy array, one row per sample")
    fit.add_argument("-k", "--n-components", type=_positive_int,
                     help="number of mixture components (required without --labels; "
                          "with --labels: classes x components per class, the default)")
    fit.add_argument("--covariance-type", choices=COVARIANCE_TYPES, default="full")
    fit.add_argument("--labels", metavar="LABELS.npy",
                     help="1-D integer .npy array of class labels, -1 for unlabelled rows: "
                          "runs the semi-supervised fit")
    fit.add_argument("--mode", choices=("clamp", "seed"),
                     help="with --labels: 'clamp' labelled rows to their class during EM "
                          "(default) or only 'seed' the start with them")
    fit.add_argument("--unlabeled-weight", type=float, metavar="LAMBDA",
                     help="with --labels: weight of unlabelled rows in [0, 1] (default 1)")
    fit.add_argument("--components-per-class", type=_positive_int, metavar="N",
                     help="with --labels: components per class (default 1)")
    fit.add_argument("--chunk-size", type=_chunk_size, metavar="ROWS|SIZE",
                     help="rows (e.g. 262144) or bytes (e.g. 64MB) read per chunk")
    fit.add_argument("--mini-batch", action="store_true",
                     help="online (stepwise) EM over shuffled mini-batches: a few passes "
                          "over data too big to iterate over many times; progress per pass")
    fit.add_argument("--batch-size", type=_positive_int, metavar="N",
                     help="with --mini-batch: rows per mini-batch (default 16384)")
    fit.add_argument("--max-passes", type=_positive_int, metavar="P",
                     help="with --mini-batch: most passes over the data (default 3)")
    fit.add_argument("--tol", type=float, default=1e-3)
    fit.add_argument("--reg-covar", type=float, default=1e-6)
    fit.add_argument("--max-iter", type=int, default=100)
    fit.add_argument("--n-init", type=_positive_int,
                     help="initialisations, the best kept (default 1; not with --labels)")
    fit.add_argument("--init-params", choices=INIT_PARAMS,
                     help="initialisation (default kmeans; not with --labels)")
    fit.add_argument("--random-state", type=int, default=None)
    fit.add_argument("--bayesian", action="store_true",
                     help="variational BayesianGaussianMixture (Dirichlet-process prior: "
                          "unneeded components get ~0 weight; not with --labels)")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    fit.add_argument("-o", "--output", required=True, metavar="MODEL.npz",
                     help="model file to write")
    fit.set_defaults(subparser=fit)

    predict = commands.add_parser(
        "predict", help="predict component labels (or probabilities) of a .npy file",
        description="Write the most probable component (or class) of every row, or with "
                    "--proba the (rows x components) probabilities, to a .npy file.")
    predict.add_argument("model", help="model file written by 'fastem fit'")
    predict.add_argument("data", help="2-D .npy array")
    predict.add_argument("-o", "--output", required=True, metavar="OUT.npy")
    predict.add_argument("--proba", action="store_true", help="write probabilities")

    score = commands.add_parser(
        "score", help="print the mean log-likelihood per row of a .npy file",
        description="Print the per-sample mean log-likelihood of the data under the model.")
    score.add_argument("model")
    score.add_argument("data")

    info = commands.add_parser("info", help="describe a model file",
                               description="Check a model file and describe it.")
    info.add_argument("model")

    # Listed for --help only; 'fastem bench ...' is dispatched before parsing.
    commands.add_parser("bench", help="side-by-side benchmark against scikit-learn "
                                      "(see 'fastem bench --help')", add_help=False)
    return parser


# ------------------------------------------------------------------ inputs
def _check_input_file(path, what=".npy file"):
    """An existing regular file (np.load on a FIFO would wait for a writer forever),
    not truncated if it is a .npy file."""
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise UserError(f"{path}: is not a regular file (a pipe or device), not a {what}")
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}[version]
            shape, _, dtype = read_header(f)
        except (ValueError, KeyError, EOFError, OSError):
            return  # not a (plain) .npy file: np.load says what it is
        expected = f.tell() + math.prod(shape) * dtype.itemsize
    size = os.path.getsize(path)
    if size < expected:
        raise UserError(f"{path}: is truncated: its header declares a {shape} {dtype} array "
                        f"({expected} bytes with the header) but the file holds {size} "
                        "bytes")


def _load_data(path):
    """A 2-D numeric array from a .npy file, memory-mapped when it can be."""
    _check_input_file(path)
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        # Pickled files and object arrays end up here: never unpickled.
        raise UserError(f"{path}: not a numeric .npy array file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise UserError(f"{path}: cannot read it as a .npy array ({exc})") from None
    if isinstance(X, np.lib.npyio.NpzFile):
        X.close()
        raise UserError(f"{path}: is an .npz archive; pass a single 2-D array saved with "
                        "numpy.save (.npy)")
    if X.dtype.kind not in "biuf" or X.dtype.fields is not None:
        raise UserError(f"{path}: holds {X.dtype} values; expected a numeric array")
    if X.ndim != 2:
        raise UserError(f"{path}: expected a 2-D array (rows x features), got a "
                        f"{X.ndim}-D array of shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise UserError(f"{path}: the array is empty (shape {X.shape})")
    return X


def _load_labels(path, n_rows):
    _check_input_file(path)
    try:
        y = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path}: not a numeric .npy array file ({exc})") from None
    if isinstance(y, np.lib.npyio.NpzFile):
        y.close()
        raise UserError(f"{path}: is an .npz archive; pass a 1-D .npy array of labels")
    if y.ndim != 1:
        raise UserError(f"{path}: expected a 1-D array of labels, got shape {y.shape}")
    if y.shape[0] != n_rows:
        raise UserError(f"{path}: has {y.shape[0]} labels but the data has {n_rows} rows")
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iuU":
        raise UserError(f"{path}: labels must be integers or strings (-1 for unlabelled "
                        f"rows), got dtype {y.dtype}")
    return y


def _load_model(path):
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory, not a model file")
    try:
        return load_with_header(path)
    except ModelFileError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _check_output(path, inputs):
    """Fail before any heavy work if the output cannot be written there, or is one
    of the ``inputs`` (the same path, a symbolic or a hard link to it): writing
    it would destroy the input (or, for a memory-mapped input, crash)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"{path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory")
    output_stat = os.stat(path) if os.path.exists(path) else None
    for source in inputs:
        if source is None:
            continue
        same_file = output_stat is not None and os.path.exists(source) and (
            os.path.samestat(output_stat, os.stat(source)))
        if same_file or os.path.realpath(path) == os.path.realpath(source):
            raise UserError(f"{path}: is an input of this command ({source}); choose "
                            "another output file")


def _check_features(model, model_path, X, data_path):
    if X.shape[1] != model.n_features_in_:
        raise UserError(f"{data_path} has {X.shape[1]} features (columns) but the model "
                        f"{model_path} was fitted on {model.n_features_in_}")


# ---------------------------------------------------------------- commands
class _Progress:
    """Per-iteration progress lines on stderr: iteration, mean log-likelihood, change, seconds."""

    def __init__(self, n_init, stream):
        self.n_init = n_init
        self.stream = stream
        self.init_index = 0

    def __call__(self, n_iter, lower_bound, change, seconds):
        if n_iter == 1:
            self.init_index += 1
            if self.n_init > 1:
                print(f"initialization {self.init_index}/{self.n_init}", file=self.stream)
            print(f"{'iter':>5} {'mean log-lik':>16} {'change':>12} {'seconds':>8}",
                  file=self.stream)
        change_text = f"{change:12.4e}" if np.isfinite(change) else f"{'-':>12}"
        print(f"{n_iter:5d} {lower_bound:16.8f} {change_text} {seconds:8.3f}",
              file=self.stream, flush=True)


_SUPERVISED_ONLY = ("mode", "unlabeled_weight", "components_per_class")
_UNSUPERVISED_ONLY = ("n_init", "init_params")


def _fit_estimator(args):
    """The estimator the fit options describe; usage errors for options that do not mix."""
    parser = args.subparser
    common = dict(n_components=args.n_components, covariance_type=args.covariance_type,
                  tol=args.tol, reg_covar=args.reg_covar, max_iter=args.max_iter,
                  random_state=args.random_state, chunk_size=args.chunk_size)
    if args.labels is None:
        given = [name for name in _SUPERVISED_ONLY if getattr(args, name) is not None]
        if given:
            parser.error(f"--{given[0].replace('_', '-')} needs --labels")
        if args.n_components is None:
            parser.error("the following arguments are required: -k/--n-components "
                         "(unless --labels is given)")
        online = _mini_batch_options(args)
        if online is not None and args.bayesian:
            parser.error("--bayesian does not apply with --mini-batch")
        if online is not None:
            from .online import MiniBatchGaussianMixture
            return MiniBatchGaussianMixture(n_init=args.n_init or 1,
                                            init_params=args.init_params or "kmeans",
                                            **online, **common)
        if args.bayesian:
            from .bayesian import BayesianGaussianMixture as estimator_class
        else:
            from .mixture import GaussianMixture as estimator_class
        return estimator_class(n_init=args.n_init or 1,
                               init_params=args.init_params or "kmeans", **common)
    if _mini_batch_options(args) is not None:
        parser.error("--mini-batch does not apply with --labels")
    if args.bayesian:
        parser.error("--bayesian does not apply with --labels")
    given = [name for name in _UNSUPERVISED_ONLY if getattr(args, name) is not None]
    if given:
        parser.error(f"--{given[0].replace('_', '-')} does not apply with --labels "
                     "(the labelled rows give the start)")
    try:
        from .semi_supervised import SemiSupervisedGaussianMixture
    except ImportError:
        raise UserError("--labels: this fastem has no semi-supervised estimator") from None
    optional = {"mode": args.mode, "unlabeled_weight": args.unlabeled_weight,
                "n_components_per_class": args.components_per_class}
    return SemiSupervisedGaussianMixture(
        **common, **{key: value for key, value in optional.items() if value is not None})


def _mini_batch_options(args):
    """MiniBatchGaussianMixture's options with --mini-batch (None without it)."""
    options = {"batch_size": args.batch_size, "max_passes": args.max_passes}
    if not args.mini_batch:
        given = [name for name, value in options.items() if value is not None]
        if given:
            args.subparser.error(f"--{given[0].replace('_', '-')} needs --mini-batch")
        return None
    return {name: value for name, value in options.items() if value is not None}


def _cmd_fit(args):
    estimator = _fit_estimator(args)
    _check_output(args.output, [args.data, args.labels])
    X = _load_data(args.data)
    if args.labels is not None:
        fit_args = (X, _load_labels(args.labels, X.shape[0]))
        kind = "semi-supervised"
    else:
        fit_args = (X,)
        kind = ("unsupervised mini-batch (online EM; one line per pass)" if args.mini_batch
                else "unsupervised")
    progress = None if args.quiet else _Progress(getattr(estimator, "n_init", 1), sys.stderr)
    if not args.quiet:
        storage = "memory-mapped" if isinstance(X, np.memmap) else "in memory"
        components = (f"{args.n_components} '{args.covariance_type}' components"
                      if args.n_components else f"'{args.covariance_type}' components "
                      f"({args.components_per_class or 1} per class)")
        print(f"fastem: {kind} fit of {components} to {args.data} ({X.shape[0]} rows x "
              f"{X.shape[1]} features, {X.dtype}, {storage})", file=sys.stderr)
    with warnings.catch_warnings(record=True) as caught, reporting_iterations(progress):
        warnings.simplefilter("always")
        try:
            estimator.fit(*fit_args)
        except ValueError as exc:  # bad data or parameters, a singular covariance...
            inputs = args.data if args.labels is None else f"{args.data}, {args.labels}"
            raise UserError(f"{inputs}: {exc}") from None
    for w in caught:
        print(f"fastem: warning: {w.message}", file=sys.stderr)
    try:
        estimator.save(args.output)
    except OSError as exc:
        raise UserError(f"{args.output}: cannot write the model ({exc.strerror or exc})") from None
    if not args.quiet:
        print(f"fastem: {'converged' if estimator.converged_ else 'did not converge'} "
              f"after {estimator.n_iter_} iteration(s), "
              f"{'lower bound' if args.bayesian else 'mean log-likelihood'} "
              f"{estimator.lower_bound_:.8f}; model written to {args.output}",
              file=sys.stderr)
    return 0


def _cmd_predict(args):
    _check_output(args.output, [args.model, args.data])
    model, _ = _load_model(args.model)
    X = _load_data(args.data)
    _check_features(model, args.model, X, args.data)
    method = model.predict_proba if args.proba else model.predict
    # Chunk by chunk into a memory-mapped .npy (bounded memory for any input size),
    # a temporary file renamed onto the output only once complete.
    with atomic_replace(args.output) as tmp:
        out = None
        for start in range(0, X.shape[0], CHUNK_ROWS):
            stop = min(X.shape[0], start + CHUNK_ROWS)
            try:
                result = method(X[start:stop])
            except ValueError as exc:  # NaN/inf in the data
                raise UserError(f"{args.data}: {exc}") from None
            if out is None:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=result.dtype,
                                                shape=(X.shape[0],) + result.shape[1:])
            out[start:stop] = result
        out.flush()
        del out  # unmapped before the rename
    return 0


def _cmd_score(args):
    model, _ = _load_model(args.model)
    X = _load_data(args.data)
    _check_features(model, args.model, X, args.data)
    from .mixture import GaussianMixture
    try:
        # The mixture's mean log-likelihood; a semi-supervised model's own
        # score(X, y) is a classification accuracy.
        value = GaussianMixture.score(model, X)
    except ValueError as exc:
        raise UserError(f"{args.data}: {exc}") from None
    print(repr(float(value)))
    return 0


def _cmd_info(args):
    model, header = _load_model(args.model)
    print(f"model:           {args.model}")
    print("\n".join(describe(model, header)))
    return 0


_COMMANDS = {"fit": _cmd_fit, "predict": _cmd_predict, "score": _cmd_score,
             "info": _cmd_info}


def main(argv=None):
    """Run the command line; returns the exit status (0, 1 data/model error, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        from . import bench  # heavy (scikit-learn, timing): only for this command
        status = bench.main(argv[1:])
        return 0 if status is None else status
    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except _UsageError:
        return 2
    try:
        return _COMMANDS[args.command](args)
    except _UsageError:  # option combinations checked after parsing
        return 2
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. a full disk while writing the output
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
