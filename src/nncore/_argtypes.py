"""argparse value types shared by the nncore commands: each turns a flag's
text into a number, or fails with a message that says what was expected."""

from __future__ import annotations

import argparse
import math


def _number(text, convert, fallback):
    try:
        return convert(text)
    except ValueError:
        return fallback


def positive_int(text):
    v = _number(text, int, 0)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def nonnegative_int(text):
    v = _number(text, int, -1)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def positive_float(text):
    v = _number(text, float, math.nan)
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def nonnegative_float(text):
    v = _number(text, float, math.nan)
    if not (v >= 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def probability(text):
    v = _number(text, float, math.nan)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return v
