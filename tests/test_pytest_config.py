"""The pytest configuration itself: warnings are errors, with narrow exceptions."""

import warnings

import pytest

TYPEDDICT = ("mypy_extensions.TypedDict is deprecated, and will be removed in a future version. "
             "Use typing.TypedDict or typing_extensions.TypedDict instead.")


def _warn_from(module):
    warnings.warn_explicit(TYPEDDICT, DeprecationWarning, f"{module.replace('.', '/')}.py", 19,
                           module=module)


def test_libcst_typeddict_warning_does_not_break_hypothesis_reports():
    """hypothesis imports libcst while it reports a failing example (hypothesis.extra.
    _patching); libcst's mypy_extensions.TypedDict warning raised there made pytest stop
    with INTERNALERROR instead of reporting the failure. pyproject ignores exactly it."""
    _warn_from("libcst.metadata.type_inference_provider")  # ignored: does not raise


def test_the_same_warning_elsewhere_is_still_an_error():
    with pytest.raises(DeprecationWarning, match="mypy_extensions.TypedDict is deprecated"):
        _warn_from("tinygan.layers.dense")
    with pytest.raises(DeprecationWarning, match="something else"):
        warnings.warn_explicit("something else", DeprecationWarning, "libcst/x.py", 1,
                               module="libcst.x")
