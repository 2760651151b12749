"""kg: turn a folder of notes into a knowledge graph you can query and chat with."""

__version__ = "0.1.0"  # the one version source: pyproject.toml reads it (hatch dynamic version)
DISTRIBUTION = "kg-notes-graph"  # the name on PyPI; the import package and the command are `kg`
