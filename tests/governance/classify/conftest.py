"""One classifier trained from the shipped corpus for the whole test session (~5 s CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cityos.governance.classify import model
from cityos.governance.classify.model import ComplaintClassifier, load_classifier


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a model cache folder private to this test session."""
    return tmp_path_factory.mktemp("complaints-cache")


@pytest.fixture(scope="session")
def classifier(cache_dir: Path) -> ComplaintClassifier:
    """Return the classifier trained on the corpus's training split (cached in cache_dir)."""
    return load_classifier(cache_dir)


@pytest.fixture
def as_default(classifier: ComplaintClassifier) -> Iterator[ComplaintClassifier]:
    """Make the session's classifier the one ``classify`` and the CLI use (not var/)."""
    saved = model._default
    model._default = classifier
    yield classifier
    model._default = saved
