"""neuromer: music-emotion research with EEG and physiological signals."""
__version__ = "0.1.0"
