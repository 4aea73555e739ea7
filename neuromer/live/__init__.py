"""Live sessions over Lab Streaming Layer: discovery, XDF recording, replay, protocol runner,
online decoding.

Each module owns one job; :mod:`neuromer.live.cli` turns them into ``neuromer`` sub-commands:

- :func:`list_streams` (``neuromer streams``): the LSL streams visible on the network;
- :func:`record` (``neuromer record``): crash-safe, append-only XDF recording;
- :func:`play` (``neuromer play``): replay an XDF / DEAP / simulated study as LSL streams;
- :func:`present` (``neuromer present``): run a protocol: audio, markers, SAM ratings;
- :class:`OnlineDecoder` (``neuromer online``): live valence/arousal from EEG to an LSL outlet.
"""

from .online import OnlineDecoder
from .play import play
from .present import present
from .record import record
from .streams import list_streams

__all__ = ["OnlineDecoder", "list_streams", "play", "present", "record"]
