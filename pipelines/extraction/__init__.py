"""Extraction as a package of stages: documents -> chunks -> candidates -> extractions -> graph."""
