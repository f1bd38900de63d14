"""The ``tinygan`` command: one sub-command per experiment.

Each experiment module under ``tinygan/experiments`` provides ``HELP`` (one line),
``add_arguments(parser)`` and ``main(args) -> int``. To add an experiment, add its
module to EXPERIMENTS below; ``tinygan --help`` lists them in this order.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name on the command line -> module (imported only when listed or run)
EXPERIMENTS = {
    "toy2x2": "tinygan.experiments.toy2x2",         # notebook 01
    "optimal-d": "tinygan.experiments.optimal_d",   # notebook 02
    "figure1": "tinygan.experiments.figure1",       # notebook 02
    "dcgan": "tinygan.experiments.dcgan",           # notebook 03
    "saturation": "tinygan.experiments.saturation", # notebook 04
    "modes": "tinygan.experiments.modes",           # notebook 05
}

# what `tinygan demo` runs, in order, each in its quick-enough default mode
DEMO = ["toy2x2", "optimal-d", "figure1", "dcgan", "saturation", "modes"]


def _common(p):
    p.add_argument("--out", default="out", help="folder for figures and results (default: out)")
    p.add_argument("--backend", choices=["numpy", "cupy"], default=None,
                   help="array backend (default: numpy, or $TINYGAN_BACKEND)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tinygan",
        description="tinygan experiments: every gradient written by hand, every result asserted.",
    )
    sub = parser.add_subparsers(dest="command", metavar="EXPERIMENT")
    demo = sub.add_parser("demo", help="run the main demo: the 2×2 toy, then the others (quick)")
    _common(demo)
    for name, modname in EXPERIMENTS.items():
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=mod.HELP, description=mod.__doc__)
        _common(p)
        mod.add_arguments(p)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.backend:
        from . import backend

        backend.use(args.backend)
    if args.command == "demo":
        return _demo(parser, args)
    return importlib.import_module(EXPERIMENTS[args.command]).main(args)


def _demo(parser, args):
    import os

    for name in DEMO:
        print(f"\n=== tinygan {name} ===", flush=True)
        argv = [name, "--out", os.path.join(args.out, name)]
        if args.no_progress:
            argv.append("--no-progress")
        if args.backend:
            argv += ["--backend", args.backend]
        if name != "toy2x2":
            argv.append("--quick")
        sub_args = parser.parse_args(argv)
        rc = importlib.import_module(EXPERIMENTS[name]).main(sub_args)
        if rc:
            return rc
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
