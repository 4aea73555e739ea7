"""Exceptions raised by neuromer.

Every error a user can cause (a bad file, a protocol typo, a missing marker) is a subclass of
:class:`NeuromerError` carrying one sentence that names the file or field and what was expected.
The command line prints that sentence and exits with status 2.
"""

from __future__ import annotations


class NeuromerError(Exception):
    """Base class of every error caused by user input (files, protocols, arguments)."""


class ProtocolError(NeuromerError, ValueError):
    """A protocol file is invalid (unknown key, missing stimulus file, bad duration...)."""


class DataFormatError(NeuromerError, ValueError):
    """A data file is missing, truncated, unsafe or not in the expected layout."""


class MarkerError(NeuromerError, ValueError):
    """Markers in a recording do not describe the trials the protocol expects."""


class UnsafePickleError(DataFormatError):
    """A pickle tried to load something other than numpy arrays and plain containers."""
