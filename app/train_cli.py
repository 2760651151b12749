"""`kg train`: the command that rebuilds every shipped model (needs the `train` extra)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipelines.train.run import CONFIG_DIR

MODELS = ("scierc-joint",)
console = Console(stderr=True)


def default_data_dir() -> Path:
    """SciERC beside the checkout (../shared/eval/scierc), or $KG_SCIERC_DIR."""
    env = os.environ.get("KG_SCIERC_DIR")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[1]
    return root.parent / "shared" / "eval" / "scierc"


def train_command(
    models: Annotated[
        list[str] | None,
        typer.Argument(help=f"Models to rebuild (default: all of {', '.join(MODELS)}).",
                       show_default=False),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Folder with SciERC train.jsonl and dev.jsonl "
                     "(default ../shared/eval/scierc or $KG_SCIERC_DIR)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Where the model folders go (default: kg/trained/models, shipped)."),
    ] = None,
    limit_docs: Annotated[
        int | None, typer.Option(min=1, help="Train and score on the first N documents only.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop after N optimizer steps (a smoke run).")
    ] = None,
) -> None:
    """Rebuild kg's trained extractors from the configs in pipelines/train/configs/, on the CPU.

    Fixed seed, early stopping on dev; each model's meta.json records its config hash, the
    training data hash, the kg version and its dev scores. Needs the train extra
    (`pip install -e ".\\[train]"`): torch is used for training only, kg runs the exported
    ONNX model without it.
    """
    from kg.trained import MODELS_DIR

    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401

        from pipelines.train.run import train_joint
    except ImportError as exc:  # the train extra is not installed
        console.print(f"[red]error:[/red] kg train needs the train extra "
                      f'(pip install -e ".\\[train]"): {exc}')  # fmt: skip
        raise typer.Exit(2) from None
    names = models or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        known = ", ".join(MODELS)
        console.print(f"[red]error:[/red] unknown model {unknown[0]!r} (known: {known})")
        raise typer.Exit(2)
    data_dir = data or default_data_dir()
    if not (data_dir / "train.jsonl").is_file() or not (data_dir / "dev.jsonl").is_file():
        console.print(f"[red]error:[/red] no SciERC train.jsonl/dev.jsonl in {data_dir}")
        raise typer.Exit(2)
    target = out or MODELS_DIR
    t0 = time.perf_counter()

    def report(line: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")

    for name in names:
        meta = train_joint(CONFIG_DIR / f"{name}.cfg", target / name, data_dir, report=report,
                           limit_docs=limit_docs, max_steps=max_steps)  # fmt: skip
        dev = meta["dev"]
        console.print(f"[green]{name}[/green]: dev entity F1 {dev['ent_f1']}, "
                      f"Rel F1 {dev['rel_f1']} -> {target / name}")  # fmt: skip
    console.print(f"done in {time.perf_counter() - t0:.0f}s")
