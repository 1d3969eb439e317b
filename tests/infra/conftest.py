"""Fixtures for the deployment checks: the Kubernetes objects and the compose file, parsed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.helpers import ROOT, k8s_manifest_paths, load_yaml_documents


@pytest.fixture(scope="module")
def k8s_objects() -> dict[str, dict[str, Any]]:
    """Kubernetes objects keyed ``Kind/name``."""
    objects: dict[str, dict[str, Any]] = {}
    for path in k8s_manifest_paths():
        for doc in load_yaml_documents(path):
            objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yaml, parsed."""
    docs = load_yaml_documents(ROOT / "docker-compose.yaml")
    assert len(docs) == 1
    return docs[0]
