"""讲稿检索助手: semantic retrieval over Chinese government speeches.

Data flows one way: corpus files -> ingest -> chunk -> embed + tokenize ->
index/ -> search (hybrid, dedupe, abstain) -> cited results -> CLI / app.
"""
import logging

from .settings import Settings
from .types import Citation, Hit, Passage, SearchResult

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["Settings", "Citation", "Hit", "Passage", "SearchResult"]
__version__ = "0.1.0"
