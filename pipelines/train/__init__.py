"""Training kg's shipped extractors (needs the `train` extra: torch, transformers, onnx).

Run time never imports this package: the shipped models in ``kg/trained/`` run on onnxruntime
and numpy alone.
"""
