"""Memory-mapped input: anonymous memory of a fit (and of predict(out=...)) on a
large float32 file, and the speed of one EM iteration over a page-cached file
against the same rows in memory.

* ``MemmapAnonymousMemory.track_*_anon_growth``: growth of RssAnon (anonymous
  memory, /proc/<pid>/status; excludes the page cache that backs the mapped
  file) above the baseline of a warmed-up child process, sampled every 2 ms
  while the child works on the file. asv's ``peakmem_`` is not used: it reports
  the peak resident set size, which counts the mapped file's pages too.
  Target: < 256 MiB on a 4 GiB file. The file is FASTEM_BENCH_MEMMAP_GIB GiB
  (set it to 4); writing it and reading it twice takes minutes on 2 cores, so
  these benchmarks are skipped unless that variable is set (the smoke run
  stays short).
* ``MemmapReadRate``: one EM iteration through the public API on a 128 MiB
  file, memory-mapped (page-cached: the setup reads it first) or loaded into
  memory, and ``track_memmap_speed_percent``: in-memory seconds over
  memory-mapped seconds, best of several, in percent (target >= 70).
"""
import os
import selectors
import subprocess
import sys
import time
import warnings

import numpy as np

from .common import SEED, SYS_PATH_SETUP

from fastem import GaussianMixture  # noqa: E402 (after the import fallback in common)

N_FEATURES = 16
N_COMPONENTS = 4
ROWS_PER_WRITE = 1 << 20


def write_mixture_file(path, n_rows, n_features=N_FEATURES):
    """A float32 .npy file of Gaussian blobs, written in chunks (bounded memory)."""
    rng = np.random.default_rng(SEED)
    centres = rng.normal(scale=4.0, size=(N_COMPONENTS, n_features)).astype(np.float32)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                  shape=(n_rows, n_features))
    for start in range(0, n_rows, ROWS_PER_WRITE):
        stop = min(n_rows, start + ROWS_PER_WRITE)
        block = rng.standard_normal((stop - start, n_features), dtype=np.float32)
        block += centres[rng.integers(0, N_COMPONENTS, stop - start)]
        X[start:stop] = block
    X.flush()
    del X
    return os.path.abspath(path)


def start_parameters(n_features=N_FEATURES):
    """A fixed start (no k-means), so a timed fit is exactly the EM iterations."""
    rng = np.random.default_rng(SEED + 1)
    return dict(weights_init=np.full(N_COMPONENTS, 1.0 / N_COMPONENTS),
                means_init=rng.normal(scale=4.0, size=(N_COMPONENTS, n_features)),
                precisions_init=np.full((N_COMPONENTS, n_features), 0.5))


# The child warms up (kernels loaded, allocator primed), prints its RssAnon,
# waits for a line on stdin, works on the whole file, prints 'done' and waits.
CHILD = SYS_PATH_SETUP + r"""
import sys, warnings
import numpy as np
import fastem
warnings.simplefilter("ignore")
mode, path, workdir = sys.argv[1:4]

def rss_anon_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])

X = np.load(path, mmap_mode="r")
kwargs = dict(n_components=4, covariance_type="diag", random_state=0, max_iter=2, tol=0.0)
model = fastem.GaussianMixture(**kwargs).fit(X[:300_000])
if mode == "predict":
    labels = np.lib.format.open_memmap(workdir + "/labels.npy", mode="w+", dtype=np.int8,
                                       shape=(X.shape[0],))
    model.predict(X[:300_000], out=labels[:300_000])
print("ready", rss_anon_kib(), flush=True)
sys.stdin.readline()
if mode == "fit":
    fastem.GaussianMixture(**kwargs).fit(X)
else:
    model.predict(X, out=labels)
    labels.flush()
print("done", rss_anon_kib(), flush=True)
sys.stdin.readline()
"""


def _rss_anon_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("no RssAnon in /proc/<pid>/status")


def anonymous_growth_mib(mode, path):
    """Peak RssAnon of a child during ``mode`` ('fit' or 'predict') minus its baseline."""
    workdir = os.path.dirname(path)
    with subprocess.Popen([sys.executable, "-c", CHILD, mode, path, workdir],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
        try:
            line = child.stdout.readline()
            if not line.startswith("ready "):
                raise RuntimeError(f"child failed before the measured step: {line!r}")
            baseline = peak = int(line.split()[1])
            child.stdin.write("go\n")
            child.stdin.flush()
            selector = selectors.DefaultSelector()
            selector.register(child.stdout, selectors.EVENT_READ)
            while not selector.select(timeout=0.002):
                peak = max(peak, _rss_anon_kib(child.pid))
            selector.close()
            tag, after = child.stdout.readline().split()
            if tag != "done":
                raise RuntimeError(f"unexpected child output {tag!r}")
            peak = max(peak, int(after))
            child.stdin.write("go\n")
            child.stdin.flush()
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return (peak - baseline) / 1024.0


class MemmapAnonymousMemory:
    """Anonymous memory of a fit and of predict(out=memmap) on a large float32 file."""

    timeout = 3600

    def setup_cache(self):
        gib = float(os.environ.get("FASTEM_BENCH_MEMMAP_GIB", "0"))
        if gib <= 0 or not sys.platform.startswith("linux"):
            return ""
        n_rows = int(gib * 2**30) // (N_FEATURES * 4)
        return write_mixture_file("large.npy", n_rows)

    setup_cache.timeout = 3600

    def setup(self, path):
        if not path:
            raise NotImplementedError("set FASTEM_BENCH_MEMMAP_GIB (e.g. 4) to run the "
                                      "large memory-mapped benchmarks (Linux only)")

    def track_fit_anon_growth(self, path):
        """Two EM iterations (k-means init on a 100,000-row subsample) over the file."""
        return anonymous_growth_mib("fit", path)

    track_fit_anon_growth.unit = "MiB"

    def track_predict_out_anon_growth(self, path):
        """predict over the file, labels written into a memory-mapped out."""
        return anonymous_growth_mib("predict", path)

    track_predict_out_anon_growth.unit = "MiB"


class MemmapReadRate:
    """One EM iteration (fixed start, tol=0) over a page-cached memmap or in memory."""

    params = (["memmap", "in_memory"], ["diag", "full"])
    param_names = ["source", "covariance_type"]
    timeout = 600
    n_rows = 2_097_152  # 128 MiB of float32

    def setup_cache(self):
        return write_mixture_file("rate.npy", self.n_rows)

    def setup(self, path, source, covariance_type):
        self.X = np.load(path, mmap_mode="r" if source == "memmap" else None)
        self.covariance_type = covariance_type
        self._one_iteration()  # reads the file into the page cache; loads the kernels

    def _one_iteration(self):
        start = start_parameters()
        if self.covariance_type == "full":
            start["precisions_init"] = np.array([np.diag(p) for p in start["precisions_init"]])
        model = GaussianMixture(N_COMPONENTS, covariance_type=self.covariance_type,
                                max_iter=1, tol=0.0, **start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tol=0: ConvergenceWarning
            model.fit(self.X)

    def time_em_iteration(self, path, source, covariance_type):
        self._one_iteration()


class MemmapSpeedRatio:
    """In-memory seconds / memory-mapped seconds for one EM iteration, in percent."""

    params = (["diag", "full"],)
    param_names = ["covariance_type"]
    timeout = 600
    repeats = 5

    def setup_cache(self):
        return write_mixture_file("ratio.npy", MemmapReadRate.n_rows)

    def setup(self, path, covariance_type):
        self.runs = {}
        for source in ("memmap", "in_memory"):
            run = MemmapReadRate()
            run.setup(path, source, covariance_type)
            self.runs[source] = run

    def track_memmap_speed_percent(self, path, covariance_type):
        best = {}
        for _ in range(self.repeats):  # interleaved, so both see the same machine load
            for source, run in self.runs.items():
                tic = time.perf_counter()
                run._one_iteration()
                elapsed = time.perf_counter() - tic
                best[source] = min(best.get(source, elapsed), elapsed)
        return 100.0 * best["in_memory"] / best["memmap"]

    track_memmap_speed_percent.unit = "percent"
