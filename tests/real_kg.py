"""A small real workspace for the tests that run the real ``KG`` (API and browser tests).

It extracts ``examples/notes/`` with spaCy only (no LLM), or a few built-in notes when that
folder is empty, and loads the result into the embedded FalkorDB when the load stage exists.
"""

from __future__ import annotations

from pathlib import Path

from kg.config import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "notes"

FALLBACK_NOTES = {
    "deep-learning-course.md": (
        "# Deep Learning course\n\n"
        "The Deep Learning course at Stanford University is taught by Andrew Ng. "
        "It covers convolutional networks, recurrent networks and the Transformer architecture. "
        "Week 3 used the MNIST dataset and PyTorch for the exercises.\n\n"
        "Andrew Ng also founded Coursera and led Google Brain.\n"
    ),
    "transformers.md": (
        "# Transformers study log\n\n"
        "BERT is a Transformer encoder trained by Google on Wikipedia and BooksCorpus. "
        "GPT-2 was trained by OpenAI on WebText. Self-attention lets every token attend to "
        "every other token.\n\n"
        "I fine-tuned BERT on the SQuAD dataset with Hugging Face Transformers in PyTorch. "
        "The learning rate was 3e-5 and training took two hours on one GPU.\n"
    ),
    "reading-list.md": (
        "# Reading list\n\n"
        "Deep Learning by Ian Goodfellow, Yoshua Bengio and Aaron Courville covers "
        "backpropagation, regularization and optimization. Pattern Recognition and Machine "
        "Learning by Christopher Bishop is the reference for Bayesian methods.\n"
    ),
}


def notes_dir(tmp: Path) -> Path:
    if EXAMPLES.is_dir() and any(p.is_file() for p in EXAMPLES.rglob("*")):
        return EXAMPLES
    folder = tmp / "notes"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FALLBACK_NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def build_workspace(tmp: Path) -> Settings:
    """Extract the notes into ``tmp/.kg`` (spaCy only); returns the settings that point at it."""
    from kg.workspace import Workspace
    from pipelines.extract import run_extract

    settings = Settings(workspace=tmp / ".kg", graph_name="kgtest")
    run_extract(
        [notes_dir(tmp)], Workspace(settings.workspace), settings, spacy_only=True, progress=False
    )
    return settings


def load_into_store(kg: object) -> bool:
    """Load the workspace into the facade's store; False when the load stage is not there yet."""
    try:
        from pipelines.load import load_workspace
    except ImportError:
        return False
    load_workspace(kg.workspace, kg.store, progress=False)  # type: ignore[attr-defined]
    return True
