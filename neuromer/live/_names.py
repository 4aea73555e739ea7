"""Names of the LSL streams neuromer publishes (here, so the command line can show them without
importing the modules that push them)."""

#: The marker stream pushed by ``neuromer present``.
MARKER_STREAM = "neuromer-markers"
#: The prediction stream pushed by ``neuromer online``.
OUTPUT_STREAM = "neuromer-emotion"
#: The audio stream pushed by ``neuromer present --audio-stream`` (the sound it plays).
AUDIO_STREAM = "neuromer-audio"
