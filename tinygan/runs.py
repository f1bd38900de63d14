"""The run layer: a folder per run, checkpoints that resume bit for bit, Ctrl-C losing nothing.

Every ``tinygan <command>`` runs inside a :class:`Run`, made by ``tinygan/cli.py``:

* **A folder of its own.** ``--out`` (default ``out/<command>``) holds ``run.json``: the
  command line and every argument, the seed, the versions, the backend, the BLAS
  library and its thread count, the start and end times, the last step and the
  ``status`` (``running``, ``completed``, ``interrupted``, ``failed``). A folder that
  already holds files is refused unless ``--resume`` (continue that run) or
  ``--overwrite`` (delete that run's files and start again) is given.
* **Atomic artifacts.** Every file goes to a temporary file in the same folder and is
  renamed into place (``os.replace``): an interrupted write leaves the previous
  complete file, or none, never half a file.
* **Checkpoints.** ``checkpoint.npz`` is written every ``--checkpoint-every`` steps, at
  the end and when the run is interrupted. It holds a *state tree*: models,
  optimizers, random generators, the history, anything else the command keeps. With
  ``--resume`` the same command continues from it and ends bit-identical to a run
  that was never interrupted (same arguments, backend and BLAS thread count).
* **Ctrl-C and SIGTERM** are deferred to the next step boundary: the run writes a
  checkpoint, marks run.json ``interrupted``, prints one line saying how to resume and
  exits 130. A second Ctrl-C stops at once (the last checkpoint stays intact).
* **Errors a user can cause** (:class:`UsageError`, a bad checkpoint, a diverged run, a
  backend that cannot load) print one line, ``tinygan <command>: error: …``, and exit 2;
  ``TINYGAN_DEBUG=1`` shows the traceback.

How to write a command on the run layer
---------------------------------------
A command is a module ``tinygan/experiments/<name>.py`` listed in ``cli.EXPERIMENTS``
(``tinygan/experiments/dcgan.py`` is the worked example). It provides:

``HELP``
    one line for ``tinygan --help``.
``DESCRIPTION``
    a few plain-text paragraphs for ``tinygan <name> --help``, written for a learner:
    what the run shows, how long it takes (full and ``--quick``), which notebook goes
    with it. No references to files outside the repository.
``CHECKPOINT_EVERY``
    the default of ``--checkpoint-every`` (steps), or ``None`` for a command that
    trains for a few seconds only and keeps no checkpoints.
``ANIMATION``
    ``True`` if the command writes GIFs (it then gets ``--no-animation``).
``add_arguments(parser)``
    its own flags. Validate each when it is parsed with the types below
    (``type=runs.positive_int``, ``runs.nonnegative_int``, ``runs.int_at_least(2)``,
    ``runs.positive_float``, ``runs.nonnegative_float``, ``runs.learning_rate`` for
    every ``--lr…`` option, ``runs.seed``) and give every
    flag a help text that states its default. ``--out``, ``--resume``,
    ``--overwrite``, ``--checkpoint-every``, ``--threads``, ``--backend``,
    ``--no-progress`` (and ``--no-animation``) are added for you.
``check_args(args)`` (optional)
    checks that involve several flags, or a flag and the data: raise
    :class:`UsageError` with one line. A ``--batch-size`` drawn from a finite training
    set is checked against its size there with :func:`check_batch_size`.
``writes_nothing(args)`` (optional)
    True when these arguments only print (``modes --tables-from``): ``main`` then gets
    a :class:`NullRun` and no folder is made.
``main(args, run) -> int``
    builds, trains, reports. ``run`` is the :class:`Run`. Return 0 when the measured
    result meets its target, 1 when it does not.

Inside ``main`` (and inside the library function it calls, which takes ``run=None`` so
that notebooks can call it without a folder: ``run = run or runs.NullRun()``)::

    G, D, opt_G, opt_D = ...                    # built from the seed, as always
    gen = backend.rng(seed + 1)                 # every generator the loop draws from
    history = History()
    parts = {"G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D, "rng": gen,
             "history": history, "snapshots": snapshots}   # everything a resume needs
    start = run.restore(parts)                  # 0, or the checkpoint's step on --resume
    with run.loop(num_steps, state=parts, start=start) as tick:
        fit(G, D, sample_real, sample_noise, opt_G, opt_D, num_steps - start,
            batch_size, history=history,
            callback=lambda step, h: tick(step + 1))   # after each step: checkpoint, Ctrl-C
    run.save_json("results.json", {...})        # atomic, listed in run.json
    run.save_figure(fig, "losses.png")          # atomic; closes the figure
    run.save_animation("training.gif", fig, draw_frame, num_frames)

What can go into ``parts`` (the state tree): anything with ``state_dict()`` and
``load_state_dict()`` (layers, Sequential, optimizers, :class:`tinygan.train.History`),
random generators (NumPy ``Generator`` or ``RandomState``; CuPy's too, see
:func:`tinygan.backend.rng_state`), arrays, JSON values (numbers, strings, lists) and
dicts of these (int keys are kept). :meth:`Run.restore` loads the saved tree *into* the
live objects in place; plain values and arrays (host NumPy arrays) replace the entries
of the dicts that hold them. ``tick(done)`` must be called at a step boundary, after
everything of that step is done (snapshots, learning-rate changes): a checkpoint
written there is a consistent cut.

Two patterns for longer commands. A loop of several phases numbers its steps globally
and keeps every phase's optimizer in ``state`` (``figure1.py``, ``saturation.py``). A
command of several jobs (seeds, methods) keeps the finished jobs' results in ``state``
beside the current job's parts, reads the checkpoint once with :meth:`Run.checkpoint`,
restores the finished jobs with :func:`restore`, and hands the current job its saved
part (``modes.py``); each job runs its own ``run.loop(total, state, start, label=" of
run 3/12 (…)")``, and the label goes into the "interrupted at …" line.

Where no loop is running (before training, while scoring), Ctrl-C stops at once; the
last checkpoint then is the one a resume uses. Keep long work that is not a loop short,
or give it a loop too.

The state API in one place
--------------------------
``layer.state_dict()`` / ``layer.load_state_dict(s)``: parameters and buffers
(``Layer.buffers``: BatchNorm's running mean and variance). ``optimizer.state_dict()``
/ ``load_state_dict``: ``t``, ``lr`` and Adam's m and v, SGD's momentum buffer,
RMSProp's average. ``backend.rng_state(gen)`` / ``backend.set_rng_state(gen, s)``.
:func:`save_state` / :func:`load_state` write and read a state tree as one ``.npz``
(arrays as entries, everything else as JSON in ``__meta__``; no pickle).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import re
import shlex
import signal
import sys
import tempfile

from . import backend

__all__ = [
    "UsageError", "CheckpointError", "Interrupted", "Run", "NullRun", "Checkpoint",
    "positive_int", "nonnegative_int", "int_at_least", "positive_float", "nonnegative_float",
    "learning_rate", "seed", "check_batch_size", "atomic_path", "save_state", "load_state",
    "restore", "environment", "blas_threads", "RUN_FILE", "CHECKPOINT_FILE",
]

RUN_FILE = "run.json"
CHECKPOINT_FILE = "checkpoint.npz"
_FORMAT = "tinygan-checkpoint/1"
_TMP = re.compile(r"^\..+\.tmp[0-9a-z_]+")  # our temporary files: .name.tmpXXXX.ext


class UsageError(Exception):
    """An error the user can fix (a flag, a file, a folder): printed as one line, exit 2."""


class CheckpointError(UsageError):
    """A checkpoint that cannot be read, or that belongs to another configuration."""


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: raised at a step boundary (after a checkpoint) or at once.

    A BaseException, as KeyboardInterrupt is: raised at once it can land anywhere (inside
    matplotlib's import, say), and an ``except Exception`` there must not swallow it.
    """

    def __init__(self, run, immediate=False):
        super().__init__("interrupted")
        self.run, self.immediate = run, immediate


# -- argparse types: every flag is validated when it is parsed ---------------------------

def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text):
    """argparse type: an integer ≥ 1."""
    v = _int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return v


def nonnegative_int(text):
    """argparse type: an integer ≥ 0."""
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {text}")
    return v


def int_at_least(minimum, why=""):
    """argparse type factory: an integer ≥ ``minimum`` (``why`` is added to the error)."""
    def check(text):
        v = _int(text)
        if v < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an integer ≥ {minimum}{' (' + why + ')' if why else ''}, got {text}")
        return v
    check.__name__ = f"int_at_least_{minimum}"
    return check


def _float(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return v


def positive_float(text):
    """argparse type: a finite number > 0."""
    v = _float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def nonnegative_float(text):
    """argparse type: a finite number ≥ 0."""
    v = _float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {text}")
    return v


def check_batch_size(batch_size, n, what):
    """Refuse a minibatch larger than the finite training set it is drawn from.

    Our samplers draw with replacement, so such a batch would run, but it repeats the
    set's images many times over in every step: a typo, not an experiment. ``what``
    names the set (``"the digits it trains on"``). Raises :class:`UsageError` (one line,
    exit 2).
    """
    if batch_size is not None and batch_size > n:
        raise UsageError(f"argument --batch-size: expected at most {n} ({what}), "
                         f"got {batch_size}")


def learning_rate(text):
    """argparse type: a learning rate (or a learning-rate multiplier), a number in (0, 1].

    Every rate our optimizers take is between 1e-5 and 1e-2; a rate above 1 moves a
    weight by more than its own scale in one step. Adam at 1e8 trains on at losses near
    1e15 that stay finite, so no divergence check can stop it: the flag refuses it.
    """
    v = _float(text)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"expected a learning rate in (0, 1], got {text}")
    return v


def seed(text):
    """argparse type: a seed for NumPy's generators, 0 ≤ seed < 2³²."""
    v = _int(text)
    if not 0 <= v < 2 ** 32:
        raise argparse.ArgumentTypeError(f"expected a seed between 0 and 2**32 - 1, got {text}")
    return v


# -- atomic files ----------------------------------------------------------------------------

@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path`` (same suffix); rename it into place on success.

    An exception (a full disk, Ctrl-C) inside the block removes the temporary file and
    leaves whatever ``path`` held before: the previous complete file, or nothing.
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    suffix = os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.tmp", suffix=suffix, dir=folder or ".")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_json(path, obj):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


# -- state trees as .npz -----------------------------------------------------------------

def _is_array(v):
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, (int, float))


def _to_state(obj):
    """What a live object is saved as: its state_dict, a generator's state, or itself."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        return obj.state_dict()
    with contextlib.suppress(TypeError):
        return backend.rng_state(obj)
    return obj


def _key(k):
    if isinstance(k, bool) or not isinstance(k, (int, str)):
        raise TypeError(f"state tree keys must be str or int, got {k!r}")
    if isinstance(k, int):
        return f"#{k}"
    if "/" in k or k.startswith("#") or not k:
        raise ValueError(f"state tree key {k!r}: keys may not be empty, contain '/' or "
                         "start with '#'")
    return k


def _flatten(tree, prefix, arrays, values):
    for k, v in tree.items():
        path = prefix + _key(k)
        v = _to_state(v)
        if isinstance(v, dict):
            if not v:
                values[path] = {}
            _flatten(v, path + "/", arrays, values)
        elif _is_array(v):
            arrays[path] = backend.to_numpy(v)
        elif isinstance(v, (list, tuple)) and any(_is_array(x) for x in v):
            raise TypeError(f"state tree entry {path!r}: a list of arrays; use a dict "
                            "(int keys are kept)")
        else:
            values[path] = v.item() if hasattr(v, "item") else v


def _unflatten(arrays, values):
    tree = {}
    for path, v in list(values.items()) + list(arrays.items()):
        node, parts = tree, path.split("/")
        for p in parts[:-1]:
            node = node.setdefault(int(p[1:]) if p.startswith("#") else p, {})
        last = parts[-1]
        node[int(last[1:]) if last.startswith("#") else last] = v
    return tree


def save_state(path, tree, meta=None):
    """Write a state tree (see the module docstring) to one ``.npz``, atomically.

    Arrays become the file's entries (named by their path in the tree, ``G/0.W``);
    every other value goes, with ``meta``, into the JSON entry ``__meta__``.
    """
    np = backend.numpy
    arrays, values = {}, {}
    _flatten(tree, "", arrays, values)
    head = {"format": _FORMAT, **(meta or {}), "values": values}
    with atomic_path(path) as tmp:
        np.savez(tmp, __meta__=np.array(json.dumps(head)), **arrays)
    return path


def load_state(path):
    """Read :func:`save_state`'s file: ``(tree, meta)``; raise CheckpointError if unreadable."""
    np = backend.numpy
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            head = json.loads(str(f["__meta__"]))
            arrays = {k: f[k] for k in f.files if k != "__meta__"}
        if head.get("format") != _FORMAT:
            raise ValueError(f"format {head.get('format')!r}, expected {_FORMAT!r}")
        values = head.pop("values")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # BadZipFile, KeyError, JSONDecodeError, OSError, ...
        raise CheckpointError(f"{path} cannot be read as a tinygan checkpoint "
                              f"({type(exc).__name__}: {exc})") from exc
    return _unflatten(arrays, values), head


def _is_rng(obj):
    try:
        backend.rng_state_kind(obj)
    except TypeError:
        return False
    return True


def _live(obj):
    """Restored in place: stateful objects, generators, and the dicts and lists holding data."""
    return hasattr(obj, "load_state_dict") or _is_rng(obj) or isinstance(obj, (dict, list))


def restore(obj, saved, where="checkpoint"):
    """Load a saved state tree into live objects, in place (see the module docstring).

    Objects with ``load_state_dict`` and generators load their saved state; a dict
    restores its live entries recursively and takes the saved plain values (arrays,
    numbers) as they are, dropping plain entries the checkpoint does not have; a list
    takes the saved list's items. Anything that does not fit raises CheckpointError.
    """
    try:
        if hasattr(obj, "load_state_dict"):
            obj.load_state_dict(saved)
        elif _is_rng(obj):
            backend.set_rng_state(obj, saved)
        elif isinstance(obj, dict):
            if not isinstance(saved, dict):
                raise ValueError(f"expected a dict, the checkpoint has {type(saved).__name__}")
            for k in list(obj):
                if k not in saved:
                    empty = isinstance(obj[k], (dict, list)) and not obj[k]
                    if _live(obj[k]) and not empty:
                        raise ValueError(f"the checkpoint has no {k!r}")
                    if not empty:
                        del obj[k]
            for k, v in saved.items():
                if k in obj and _live(obj[k]):
                    restore(obj[k], v, f"{where}/{k}")
                else:
                    obj[k] = v
        elif isinstance(obj, list):
            obj[:] = saved
        else:
            raise TypeError(f"cannot restore into a {type(obj).__name__}")
    except CheckpointError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{where}: {exc}") from exc
    return obj


# -- the machine a run ran on ----------------------------------------------------------------

def _now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def blas_info():
    """The BLAS libraries NumPy uses, with their thread counts (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return [{"library": i.get("internal_api"), "version": i.get("version"),
             "threads": i.get("num_threads"), "threading_layer": i.get("threading_layer"),
             "path": i.get("filepath")}
            for i in threadpool_info() if i.get("user_api") == "blas"]


@contextlib.contextmanager
def blas_threads(n):
    """Limit BLAS to ``n`` threads inside the block (``None``: leave it as it is)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


def environment():
    """Versions, platform, backend and BLAS (library and threads), for run.json."""
    import tinygan

    env = {"versions": {"tinygan": tinygan.__version__, "numpy": backend.numpy.__version__,
                        "python": platform.python_version()},
           "platform": platform.platform(), "backend": backend.name()}
    with contextlib.suppress(Exception):
        import matplotlib

        env["versions"]["matplotlib"] = matplotlib.__version__
    env["blas"] = blas_info()
    threads = {b["threads"] for b in env["blas"]}
    env["threads"] = threads.pop() if len(threads) == 1 else sorted(threads)
    return env


def _plain(obj):
    """JSON's view of ``obj`` (tuples → lists), to compare saved and current settings."""
    return json.loads(json.dumps(obj, default=str))


# -- the run ---------------------------------------------------------------------------------

class Checkpoint:
    """A loaded checkpoint: the ``step`` it was written at and its state ``tree``."""

    def __init__(self, step, tree, meta):
        self.step, self.tree, self.meta = step, tree, meta


class Run:
    """One run of a command in its own folder (see the module docstring).

    Parameters
    ----------
    command : the command's name (``"dcgan"``).
    out : the folder.
    args : every argument (a dict or an argparse Namespace), recorded in run.json.
    config : the settings that decide the result; a checkpoint must match them.
    command_line : the command as typed, for run.json.
    resume, overwrite : what to do with a folder that holds a run already.
    checkpoint_every : write a checkpoint every this many steps (None: only at the
        end and when interrupted); 0 disables checkpoints for a command without them.
    resume_command : what the "resume with:" line prints (default
        ``tinygan <command> --out <out> --resume``).
    """

    def __init__(self, command, out, args=None, config=None, command_line=None, resume=False,
                 overwrite=False, checkpoint_every=None, resume_command=None):
        if resume and overwrite:
            raise UsageError("--resume and --overwrite exclude each other")
        self.command, self.out = command, os.fspath(out)
        self.args = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
        self.config = _plain(config if config is not None else self.args)
        self.command_line = command_line or f"tinygan {command} --out {shlex.quote(self.out)}"
        self.resume, self.overwrite = resume, overwrite
        self.checkpoint_every = checkpoint_every
        self.resume_command = resume_command or (
            f"tinygan {command} --out {shlex.quote(self.out)} --resume")
        self.record = None
        self.step, self.total, self.unit, self.label = 0, None, "step", ""
        self.checkpoint_step = None
        self.keeps_checkpoints = checkpoint_every != 0
        self._deferring = False
        self._stop = None
        self._finishing = False
        self._loaded = False
        self._checkpoint = None
        self.previous = None  # the folder's run.json before this run, if any

    # -- the folder ----------------------------------------------------------------------
    def path(self, name):
        """The path of a file of this run (a plain name inside the folder)."""
        return os.path.join(self.out, name)

    def _fail_folder(self, what, exc):
        raise UsageError(f"--out {self.out}: {what} ({exc.strerror or exc})") from exc

    def open(self):
        """Check the folder, refuse another run's files, write run.json (status running).

        Called before any training, so a bad ``--out`` costs nothing.
        """
        out = self.out
        if os.path.exists(out) and not os.path.isdir(out):
            raise UsageError(f"--out {out} is a file, not a folder; choose a folder")
        if self.resume and not os.path.isdir(out):  # refused before an empty folder is made
            raise UsageError(f"--resume: {out} holds no run to resume; start it without "
                             "--resume")
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as exc:
            self._fail_folder("cannot create this folder", exc)
        prev = None
        if os.path.exists(self.path(RUN_FILE)):
            try:
                with open(self.path(RUN_FILE)) as f:
                    prev = json.load(f)
            except (OSError, ValueError) as exc:
                raise UsageError(f"--out {out}: its {RUN_FILE} cannot be read ({exc}); "
                                 "choose another folder") from exc
        self.previous = prev
        try:
            entries = [e for e in os.listdir(out) if not _TMP.match(e)]
        except OSError as exc:
            self._fail_folder("cannot list this folder", exc)
        if entries and not (self.resume or self.overwrite):
            if prev is None:
                raise UsageError(f"--out {out} already holds files that are not a tinygan run;"
                                 " choose an empty or new folder")
            raise UsageError(f"--out {out} already holds a {self._describe(prev)}; add --resume "
                             "to continue it or --overwrite to replace it, or choose another "
                             "folder")
        if self.overwrite and entries:
            if prev is None:
                raise UsageError(f"--out {out} holds files that are not a tinygan run; "
                                 "--overwrite only deletes a tinygan run's files: choose an "
                                 "empty or new folder")
            self._delete(prev)
            prev = None
        if self.resume:
            if prev is None:
                raise UsageError(f"--resume: {out} holds no run to resume; start it without "
                                 "--resume")
            if prev.get("command") != self.command:
                raise UsageError(f"--resume: {out} holds a {prev.get('command')} run, not "
                                 f"{self.command}")
        self._clean_tmp()
        self.record = {"command": self.command, "command_line": self.command_line,
                       "args": _plain(self.args), "seed": self.args.get("seed"),
                       **environment(), "started": _now(), "ended": None,
                       "status": "running", "last_step": 0, "total_steps": None,
                       "checkpoint_step": None, "files": []}
        if self.resume:
            self.record["started"] = prev.get("started")
            self.record["files"] = list(prev.get("files", []))
            self.record["resumed"] = prev.get("resumed", []) + [
                {"time": _now(), "from_step": prev.get("checkpoint_step") or 0,
                 "command_line": self.command_line}]
        self._write_record()
        return self

    @staticmethod
    def _describe(rec):
        status, step, total = rec.get("status"), rec.get("last_step"), rec.get("total_steps")
        where = f" at step {step} of {total}" if total else ""
        return f"{rec.get('command')} run ({status}{where if status != 'completed' else ''})"

    def _delete(self, prev):
        for name in set(prev.get("files", [])) | {RUN_FILE, CHECKPOINT_FILE}:
            if os.path.basename(name) == name:  # only plain names inside the folder
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path(name))

    def _clean_tmp(self):
        for e in os.listdir(self.out):
            if _TMP.match(e):
                with contextlib.suppress(OSError):
                    os.unlink(self.path(e))

    def _write_record(self):
        try:
            _write_json(self.path(RUN_FILE), self.record)
        except OSError as exc:
            self._fail_folder(f"cannot write {RUN_FILE}", exc)

    def _wrote(self, name):
        if name not in self.record["files"]:
            self.record["files"].append(name)

    @contextlib.contextmanager
    def _artifact(self, name):
        """An atomic temporary path for artifact ``name``; an OSError becomes one line."""
        try:
            with atomic_path(self.path(name)) as tmp:
                yield tmp
        except OSError as exc:
            raise UsageError(f"cannot write {self.path(name)} ({exc.strerror or exc})") from exc
        self._wrote(name)

    # -- artifacts --------------------------------------------------------------------------
    def save_json(self, name, obj):
        """Write ``obj`` as JSON to ``name`` in the folder, atomically."""
        with self._artifact(name) as tmp, open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")
        return self.path(name)

    def save_text(self, name, text):
        with self._artifact(name) as tmp, open(tmp, "w") as f:
            f.write(text)
        return self.path(name)

    def save_figure(self, fig, name, dpi=110, close=True, **savefig):
        """Save a matplotlib figure to ``name`` (its suffix picks the format), atomically."""
        try:
            with self._artifact(name) as tmp:
                fig.savefig(tmp, dpi=dpi, format=os.path.splitext(name)[1][1:] or "png",
                            **savefig)
        finally:
            if close:
                import matplotlib.pyplot as plt

                plt.close(fig)
        return self.path(name)

    def save_animation(self, name, fig, draw_frame, num_frames, fps=8, dpi=72):
        """A GIF of ``num_frames`` frames: ``draw_frame(i)`` redraws ``fig`` for frame i.

        Matplotlib's animation writer with Pillow (which matplotlib already installs);
        written atomically, and the figure is closed afterwards.
        """
        from .animation import save_gif

        try:
            with self._artifact(name) as tmp:
                save_gif(tmp, fig, draw_frame, num_frames, fps=fps, dpi=dpi)
        finally:
            import matplotlib.pyplot as plt

            plt.close(fig)
        return self.path(name)

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self, state, step):
        """Write ``state`` (a state tree, or a callable returning one) as checkpoint.npz."""
        tree = state() if callable(state) else state
        meta = {"command": self.command, "config": self.config, "step": int(step),
                "total": self.total, "saved": _now()}
        import tinygan

        meta["tinygan"] = tinygan.__version__
        with self._artifact(CHECKPOINT_FILE) as tmp:
            save_state(tmp, tree, meta)
        self.checkpoint_step = int(step)
        self.record.update(last_step=int(step), checkpoint_step=int(step))
        self._write_record()

    def checkpoint(self):
        """The folder's checkpoint on ``--resume`` (checked against this run), else None.

        Loaded once; the same object is returned on later calls.
        """
        if self._loaded:
            return self._checkpoint
        self._loaded = True
        path = self.path(CHECKPOINT_FILE)
        if not self.resume or not os.path.exists(path):
            return None
        tree, meta = load_state(path)
        if meta.get("command") != self.command:
            raise CheckpointError(f"{path} belongs to a {meta.get('command')} run, not "
                                  f"{self.command}")
        if meta.get("config") != self.config:
            saved, here = meta.get("config") or {}, self.config
            diff = [f"{k} {saved.get(k)!r} there, {here.get(k)!r} here"
                    for k in sorted(set(saved) | set(here)) if saved.get(k) != here.get(k)]
            raise CheckpointError(f"{path} is from another configuration ({'; '.join(diff)});"
                                  " use the same arguments, or --overwrite to start over")
        self._checkpoint = Checkpoint(int(meta["step"]), tree, meta)
        self.checkpoint_step = self._checkpoint.step
        return self._checkpoint

    def restore(self, parts):
        """Load the checkpoint (if resuming) into ``parts`` in place; return its step or 0."""
        ckpt = self.checkpoint()
        if ckpt is None:
            return 0
        restore(parts, ckpt.tree, where=self.path(CHECKPOINT_FILE))
        self.step = ckpt.step
        return ckpt.step

    # -- the training loop ------------------------------------------------------------------
    @contextlib.contextmanager
    def loop(self, total, state=None, start=0, label="", unit="step"):
        """Inside the block Ctrl-C waits for a step boundary; yields ``tick(done)``.

        Call ``tick(done)`` after each step (``done`` steps of ``total`` are complete).
        It writes a checkpoint of ``state`` every ``checkpoint_every`` steps and at
        ``done == total``; after a Ctrl-C or SIGTERM it writes one and raises
        :class:`Interrupted`. ``state=None``: a loop without checkpoints.
        """
        self.total, self.step, self.label, self.unit = int(total), int(start), label, unit
        self.record["total_steps"] = self.total
        every = self.checkpoint_every
        keep = state is not None and self.keeps_checkpoints

        def tick(done):
            self.step = done
            if keep and (done == total or (every and done % every == 0) or self._stop):
                self.save_checkpoint(state, done)
            if self._stop:
                raise Interrupted(self)

        self._deferring = True
        try:
            yield tick
        finally:
            self._deferring = False

    # -- signals --------------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        if self._finishing:
            self._stop = self._stop or signum
            return
        if self._deferring and not self._stop:
            self._stop = signum  # the next tick checkpoints and stops
            return
        raise Interrupted(self, immediate=True)

    @contextlib.contextmanager
    def signals(self):
        """Route SIGINT and SIGTERM to this run while the block runs (main thread only)."""
        old = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not the main thread: leave the defaults
            pass
        try:
            yield self
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    # -- the end ------------------------------------------------------------------------------
    def finish(self, status, **fields):
        """Mark run.json ``completed``, ``interrupted`` or ``failed`` (with the end time)."""
        self._finishing = True
        if self.record is None:
            return
        self.record.update(status=status, ended=_now(), last_step=self.step, **fields)
        with contextlib.suppress(UsageError):
            self._write_record()

    def interrupted_line(self, exc):
        """The one line printed when the run stops on Ctrl-C or SIGTERM."""
        if self.total is None:
            where = "interrupted before training started"
        else:
            where = f"interrupted at {self.unit} {self.step} of {self.total}{self.label}"
        if not self.keeps_checkpoints:
            return (f"{where}; tinygan {self.command} keeps no checkpoints (it takes seconds): "
                    "run it again with --overwrite")
        if exc.immediate and self.total is not None and self.checkpoint_step != self.step:
            where += (" (no checkpoint was written yet: a resume starts from the beginning)"
                      if self.checkpoint_step is None else
                      f" (the last checkpoint is from step {self.checkpoint_step})")
        return f"{where}; resume with: {self.resume_command}"


class NullRun:
    """What a library call gets without a folder (a notebook): no files, no checkpoints."""

    step = 0

    def restore(self, parts):
        return 0

    def checkpoint(self):
        return None

    @contextlib.contextmanager
    def loop(self, total, state=None, start=0, label="", unit="step"):
        yield lambda done: None


def print_error(command, message):
    """``tinygan <command>: error: <message>`` on stderr (one line).

    An exception that words itself for the command line (``cli_message``, as
    :class:`tinygan.backend.BackendError` does: ``--backend numpy``, not a Python call)
    is printed in that wording.
    """
    message = getattr(message, "cli_message", message)
    prog = f"tinygan {command}" if command else "tinygan"
    line = " ".join(str(message).split())  # one line, whatever the message held
    print(f"{prog}: error: {line}", file=sys.stderr, flush=True)
