"""The ``tinygan`` command: one sub-command per experiment, each run on the run layer.

Every sub-command runs inside a :class:`tinygan.runs.Run` made here: its folder and
run.json, ``--resume``/``--overwrite``, checkpoints, Ctrl-C at step boundaries, BLAS
threads, and the error convention (one line ``tinygan <command>: error: …``, exit 2;
``TINYGAN_DEBUG=1`` shows the traceback). How to write a command:
``tinygan/runs.py``, section "How to write a command on the run layer"; then add its
module to EXPERIMENTS below (``tinygan --help`` lists them in this order).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shlex
import sys

# name on the command line -> module (imported only when listed or run)
EXPERIMENTS = {
    "toy2x2": "tinygan.experiments.toy2x2",         # notebook 01
    "optimal-d": "tinygan.experiments.optimal_d",   # notebook 02
    "figure1": "tinygan.experiments.figure1",       # notebook 02
    "dcgan": "tinygan.experiments.dcgan",           # notebook 03
    "saturation": "tinygan.experiments.saturation", # notebook 04
    "modes": "tinygan.experiments.modes",           # notebook 05
    "cgan": "tinygan.experiments.cgan",             # notebook 06
    "cyclegan": "tinygan.experiments.cyclegan",     # notebook 07
    "stylegan": "tinygan.experiments.stylegan",     # notebook 08
    "gan3d": "tinygan.experiments.gan3d",           # notebook 09
}

# what `tinygan demo` runs, in order, each in its quick-enough default mode
DEMO = ["toy2x2", "optimal-d", "figure1", "dcgan", "saturation", "modes", "cgan", "cyclegan"]

#: arguments that say *how* a run runs, not *what* it computes: they may differ on
#: --resume and are not part of the configuration a checkpoint must match
RUN_FLAGS = frozenset({"command", "out", "resume", "overwrite", "checkpoint_every", "threads",
                       "no_progress", "no_animation"})

DESCRIPTION = """\
tinygan: GAN experiments with every gradient written by hand, every result asserted.

Each command trains, prints what it measured next to the published or analytic value,
and writes its figures, results.json and run.json to its own folder (--out, default
out/<command>). Ctrl-C stops at the next step and says how to resume. The learning
path follows the notebooks 01-09; `tinygan <command> --help` says what each one shows
and how long it takes."""


class _ParseError(Exception):
    def __init__(self, parser, message):
        super().__init__(message)
        self.parser, self.message = parser, message


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors to the caller instead of exiting (one line, exit 2)."""

    def error(self, message):
        raise _ParseError(self, message)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their paragraphs; flag help is wrapped."""


def _module(name):
    return importlib.import_module(EXPERIMENTS[name])


def _run_arguments(p, name, checkpoint_every=None, animation=False, demo=False):
    """The flags every command gets from the run layer."""
    from . import runs

    g = p.add_argument_group("run options")
    g.add_argument("--out", default=os.path.join("out", name), metavar="FOLDER",
                   help=f"the run's folder: figures, results, run.json"
                        f"{', checkpoint.npz' if checkpoint_every else ''} (default: "
                        f"out/{name})" + (", one sub-folder per command" if demo else ""))
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint, with the "
                        "arguments it was started with (default: off)")
    g.add_argument("--overwrite", action="store_true",
                   help="delete the run in --out and start again (default: off; a folder "
                        "holding another run is refused)")
    if checkpoint_every:
        g.add_argument("--checkpoint-every", type=runs.positive_int, default=checkpoint_every,
                       metavar="N", help=f"write checkpoint.npz every N steps (default: "
                                         f"{checkpoint_every}); also at the end and on Ctrl-C")
    g.add_argument("--threads", type=runs.positive_int, default=None, metavar="N",
                   help="BLAS threads, set with threadpoolctl and recorded in run.json "
                        "(default: the BLAS library's own choice). Results differ in the "
                        "last bits across thread counts")
    g.add_argument("--backend", choices=["numpy", "cupy"], default=None,
                   help="array backend (default: numpy, or $TINYGAN_BACKEND)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown)")
    if animation or demo:
        g.add_argument("--no-animation", action="store_true",
                       help="skip the GIFs of training (default: written)")


def _demo_description():
    """What ``tinygan demo --help`` says, wrapped like the commands' own descriptions."""
    import textwrap

    runs = (f"Runs {DEMO[0]}, then {', '.join(DEMO[1:-1])} and {DEMO[-1]} with --quick, each "
            "in a sub-folder of --out. About 2-3 minutes on one core.")
    again = ("With --resume it skips the commands that completed and resumes the one that was "
             "interrupted.")
    return "\n\n".join(textwrap.fill(t, 86) for t in (runs, again))


def build_parser():
    import tinygan

    from . import backend

    parser = _Parser(prog="tinygan", description=DESCRIPTION, formatter_class=_Formatter,
                     allow_abbrev=False)
    parser.add_argument("--version", action="version",
                        version=f"tinygan {tinygan.__version__} (NumPy "
                                f"{backend.numpy.__version__}, Python "
                                f"{sys.version.split()[0]})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo = sub.add_parser(
        "demo", help="the main demo: the 2×2 toy, then every other command in its quick form",
        description=_demo_description(),
        formatter_class=_Formatter, allow_abbrev=False)
    _run_arguments(demo, "demo", demo=True)
    for name in EXPERIMENTS:
        mod = _module(name)
        p = sub.add_parser(name, help=mod.HELP,
                           description=getattr(mod, "DESCRIPTION", None) or mod.HELP,
                           formatter_class=_Formatter, allow_abbrev=False)
        mod.add_arguments(p)
        _run_arguments(p, name, getattr(mod, "CHECKPOINT_EVERY", None),
                       getattr(mod, "ANIMATION", False))
    return parser


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def _print_parse_error(e):
    msg = e.message
    if msg.startswith(("unrecognized arguments", "the following arguments are required",
                       "argument COMMAND")):
        e.parser.print_usage(sys.stderr)
    from .runs import print_error

    print_error(e.parser.prog.removeprefix("tinygan").strip(), msg)
    return 2


class _PipeGuard:
    """stdout that survives ``| head``: once the reader is gone, output goes to /dev/null.

    The run itself continues and finishes its files; Python's BrokenPipeError (with its
    traceback at exit) never reaches the learner.
    """

    def __init__(self, stream):
        self._stream, self._broken = stream, False

    def _break(self):
        self._broken = True
        with contextlib.suppress(Exception):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def write(self, text):
        if not self._broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._break()
        return len(text)

    def flush(self):
        if not self._broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._break()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv=None):
    """Entry point of ``tinygan``; returns the exit status (never raises for a user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    guard = not isinstance(sys.stdout, _PipeGuard)
    old = sys.stdout
    if guard:
        sys.stdout = _PipeGuard(old)
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before a run started (while importing, parsing)
        print("tinygan: interrupted", file=sys.stderr)
        return 130
    finally:
        if guard:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            sys.stdout = old


def _main(argv):
    from . import backend, runs

    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            sub = _subparsers(parser).get(args.command, parser)
            raise _ParseError(sub, f"unrecognized arguments: {' '.join(extra)}")
    except _ParseError as e:
        return _print_parse_error(e)
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.resume and args.overwrite:
            raise runs.UsageError("--resume and --overwrite exclude each other: --resume "
                                  "continues the run in --out, --overwrite deletes it")
        if args.backend:
            backend.use(args.backend)
        backend.name()  # a bad TINYGAN_BACKEND is reported here, before anything runs
    except (runs.UsageError, backend.BackendError) as exc:
        if os.environ.get("TINYGAN_DEBUG"):
            raise
        runs.print_error(args.command, exc)
        return 2
    if args.command == "demo":
        return _demo(parser, args)
    return run_command(parser, args.command, args, argv)


def _explicit(sub, argv):
    """The dests of the flags written on the command line (not left at their defaults)."""
    out = set()
    for action in sub._actions:
        for opt in action.option_strings:
            if any(tok == opt or tok.startswith(opt + "=") for tok in argv):
                out.add(action.dest)
    return out


def _adopt_saved_arguments(sub, args, argv):
    """--resume: take the run's saved arguments for every flag not given; refuse conflicts."""
    from . import runs

    path = os.path.join(args.out, runs.RUN_FILE)
    if not os.path.exists(path):
        return  # Run.open says there is nothing to resume
    try:
        with open(path) as f:
            rec = json.load(f)
        saved = rec["args"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise runs.UsageError(f"--resume: {path} cannot be read ({exc})") from exc
    if rec.get("command") != args.command:
        return  # Run.open says so
    explicit = _explicit(sub, argv)
    conflicts = []
    for dest, value in saved.items():
        if dest in RUN_FLAGS or not hasattr(args, dest):
            continue
        here = getattr(args, dest)
        if dest in explicit:
            if runs._plain(here) != value:
                flag = "--" + dest.replace("_", "-")
                conflicts.append(f"{flag} {value} there, {here} here")
        else:
            setattr(args, dest, value)
    if "threads" not in explicit:  # the thread count the run actually used: same bits
        threads = saved.get("threads") or rec.get("threads")
        if isinstance(threads, int):
            args.threads = threads
    if "no_animation" not in explicit and "no_animation" in saved:  # frames are state too
        args.no_animation = saved["no_animation"]
    if conflicts:
        raise runs.UsageError(f"--resume: {args.out} was started with other arguments "
                              f"({'; '.join(conflicts)}); resume without them, or start "
                              "over with --overwrite")


def _config(args):
    """The arguments that decide the result, with the backend actually used."""
    from . import backend

    config = {k: v for k, v in vars(args).items() if k not in RUN_FLAGS}
    config["backend"] = backend.name()
    return config


def _user_errors():
    from . import backend, runs
    from .train import TrainingDiverged

    return (runs.UsageError, backend.BackendError, TrainingDiverged)


def run_command(parser, name, args, argv, resume_command=None):
    """Run one sub-command inside a Run; returns its exit status."""
    from . import runs

    debug = bool(os.environ.get("TINYGAN_DEBUG"))
    mod = _module(name)
    sub = _subparsers(parser)[name]
    run = None
    keeps = getattr(mod, "CHECKPOINT_EVERY", None) is not None
    try:
        if args.resume:
            _adopt_saved_arguments(sub, args, argv)
        if hasattr(mod, "check_args"):
            mod.check_args(args)
        if getattr(mod, "writes_nothing", lambda a: False)(args):  # e.g. modes --tables-from
            with runs.blas_threads(args.threads):
                return mod.main(args, runs.NullRun())
        with runs.blas_threads(args.threads):
            run = runs.Run(name, args.out, args=args, config=_config(args),
                           command_line=shlex.join(["tinygan"] + list(argv)),
                           resume=args.resume, overwrite=args.overwrite,
                           checkpoint_every=getattr(args, "checkpoint_every", None)
                           if keeps else 0, resume_command=resume_command)
            if not hasattr(args, "no_animation"):
                args.no_animation = True
            with run.signals():
                try:
                    run.open()
                    rc = mod.main(args, run)
                except runs.Interrupted as exc:
                    run.finish("interrupted")
                    print(run.interrupted_line(exc), file=sys.stderr, flush=True)
                    return 130
                except Exception as exc:
                    run.finish("failed", error=f"{type(exc).__name__}: {exc}")
                    raise
                run.finish("completed" if rc == 0 else "failed", exit_code=rc,
                           **({} if rc == 0 else {"error": "the measured result missed "
                                                  "its target (see the output)"}))
                return rc
    except _user_errors() as exc:
        if debug:
            raise
        runs.print_error(name, exc)
        return 2
    except runs.Interrupted:  # a second signal while finishing, or before the run opened
        print(f"tinygan {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        runs.print_error(name, f"{type(exc).__name__}: {exc} (this looks like a bug in "
                               "tinygan; TINYGAN_DEBUG=1 shows the traceback)")
        return 1


def _demo(parser, args):
    from . import runs

    passed = []
    if args.no_progress:
        passed.append("--no-progress")
    if args.backend:
        passed += ["--backend", args.backend]
    if args.threads:
        passed += ["--threads", str(args.threads)]
    resume_command = f"tinygan demo --out {shlex.quote(args.out)} --resume"
    for name in DEMO:
        out = os.path.join(args.out, name)
        rec = None
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(out, runs.RUN_FILE)) as f:
                rec = json.load(f)
        if args.resume and rec and rec.get("status") == "completed":
            print(f"\n=== tinygan {name}: completed already in {out} ===", flush=True)
            continue
        print(f"\n=== tinygan {name} ===", flush=True)
        argv = [name, "--out", out] + passed + ([] if name == "toy2x2" else ["--quick"])
        if args.no_animation and getattr(_module(name), "ANIMATION", False):
            argv.append("--no-animation")
        if args.resume and rec:
            argv.append("--resume")
        elif args.overwrite:
            argv.append("--overwrite")
        sub_args = parser.parse_args(argv)
        rc = run_command(parser, name, sub_args, argv, resume_command=resume_command)
        if rc:
            return rc
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
