"""kg: turn a folder of notes into a knowledge graph you can query and chat with."""

__version__ = "0.1.0"
