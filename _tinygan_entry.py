"""The ``tinygan`` console script: a light module, so that Ctrl-C during the imports is one line.

``import tinygan.cli`` imports the package (NumPy, the layers), which takes a good part of
a second; a Ctrl-C in that time used to print Python's KeyboardInterrupt traceback,
before any of tinygan's code could catch it. This module sits outside the package and
imports only the standard library, so its handler is in place before the first heavy
import. (A Ctrl-C in the first few hundredths of a second, while Python itself starts,
is still Python's to report.)
"""

import importlib
import signal
import sys


def main():
    """Entry point of ``tinygan``: import the command line, then run it (exit status)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # started with Ctrl-C ignored (nohup, a background job of a script): keep it so
        return importlib.import_module("tinygan.cli").main()
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        cli = importlib.import_module("tinygan.cli")
    except KeyboardInterrupt:
        interrupted.append(signal.SIGINT)
    except ImportError:
        # a Ctrl-C inside a C extension's import (NumPy's) comes out as an ImportError
        # ("PyCapsule_Import could not import module"): the signal says what happened
        if not interrupted:
            raise
    finally:
        signal.signal(signal.SIGINT, old)
    if interrupted:
        print("tinygan: interrupted", file=sys.stderr)
        return 130
    return cli.main()
