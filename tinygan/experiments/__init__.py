"""Experiments that reproduce results step by step; each is also a CLI sub-command."""
