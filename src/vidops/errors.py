"""The one base class of the errors vidops expects: bad input, bad params, refused states.

The CLI turns a ``VidopsError`` into one line naming the file and the reason. Anything
else (a shape bug, an out-of-memory, a library's own error) is a bug or an outage and
keeps its traceback. Domain errors also subclass the builtin they used to be
(``ValueError``, ``RuntimeError``) so callers catching those keep working.
"""

from __future__ import annotations


class VidopsError(Exception):
    """A failure vidops anticipated and can explain in one line."""


class DataError(VidopsError, ValueError):
    """The data cannot make what was asked: fewer than two classes, too few frames, a bad file."""
