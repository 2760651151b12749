"""Answers that name the answer: the question analysed once, candidates, a choice, citations.

``analyse`` turns the question into a ``Question``; ``stream_answer``/``answer`` build the
context from the hits and graph facts, extract and score answer candidates, let the LLM choose
among them (or take the best-ranked one without it), and return a cited ``kg.models.Answer``.
"""

from kg.answer.compose import NOT_IN_CORPUS
from kg.answer.flow import PATHS, Plain, Sources, answer, stream_answer
from kg.answer.question import Question, analyse

__all__ = ["NOT_IN_CORPUS", "PATHS", "Plain", "Question", "Sources", "analyse", "answer",
           "stream_answer"]  # fmt: skip
