"""Live sessions over Lab Streaming Layer: discovery, XDF recording, replay, protocol runner,
online decoding.

Each module owns one job; :mod:`neuromer.live.cli` turns them into ``neuromer`` sub-commands:

- :func:`list_streams` (``neuromer streams``): the LSL streams visible on the network;
- :func:`record` (``neuromer record``): crash-safe, append-only XDF recording;
- :func:`play` (``neuromer play``): replay an XDF / DEAP / simulated study as LSL streams;
- :func:`present` (``neuromer present``): run a protocol: audio, markers, SAM ratings;
- :class:`OnlineDecoder` (``neuromer online``): live valence/arousal from EEG to an LSL outlet.
"""

from .._lazy import lazy_exports

# loaded on first use; `play`, `present` and `record` stay the functions even once their
# same-named submodules are imported (see neuromer._lazy)
_EXPORTS = {"OnlineDecoder": "online", "play": "play", "present": "present", "record": "record",
            "list_streams": "streams"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
