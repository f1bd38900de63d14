"""Experiments that reproduce results step by step; each is also a ``tinygan`` sub-command.

Every command runs on the run layer (its folder, run.json, checkpoints, ``--resume``,
Ctrl-C at step boundaries, one-line errors). To write a new one, read
``tinygan/runs.py``, section "How to write a command on the run layer", and copy the
shape of ``dcgan.py``: a library function ``train(..., run=None)`` that a notebook can
call without a folder, and ``main(args, run)`` that reports and saves through ``run``.
"""
