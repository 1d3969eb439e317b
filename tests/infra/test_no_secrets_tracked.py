"""No secret, key file, Terraform state or .env file is tracked (or about to be: untracked files
that .gitignore does not exclude are checked too, since `git add -A` would take them)."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import PurePosixPath

import pytest

from tests.infra.helpers import ROOT

FORBIDDEN_NAMES = [
    "*.tfstate",
    "*.tfstate.*",
    "*.tfvars",
    "*.tfvars.json",
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_ed25519*",
    "*service-account*.json",
    "*credentials*.json",
    "*.keyfile.json",
    ".pgpass",
    "pgpass",
    ".terraformrc",
    "terraform.rc",
]
ALLOWED_NAMES = ["*.tfvars.example", ".env.example"]
FORBIDDEN_DIRS = {".terraform"}
# Built from parts so that this file does not match itself.
PRIVATE_KEY = re.compile("-----BEGIN ([A-Z]+ )?" + "PRIVATE KEY-----")
SERVICE_ACCOUNT_KEY = re.compile(r'"type"\s*:\s*"service_' + r'account"')


def _candidate_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({name for name in tracked.split("\0") if name})


def _forbidden(name: str) -> bool:
    path = PurePosixPath(name)
    if FORBIDDEN_DIRS & set(path.parts[:-1]):
        return True
    if any(fnmatch.fnmatch(path.name, pattern) for pattern in ALLOWED_NAMES):
        return False
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in FORBIDDEN_NAMES)


@pytest.mark.parametrize(
    ("name", "forbidden"),
    [
        ("infra/terraform/terraform.tfstate", True),
        ("infra/terraform/terraform.tfstate.backup", True),
        ("infra/terraform/prod.tfvars", True),
        ("infra/terraform/terraform.tfvars.example", False),
        ("infra/terraform/.terraform/providers/x", True),
        (".env", True),
        (".env.production", True),
        (".env.example", False),
        ("keys/my-service-account-123.json", True),
        ("tls/server.key", True),
        ("recsys/settings.py", False),
    ],
)
def test_forbidden_name_patterns(name: str, forbidden: bool) -> None:
    assert _forbidden(name) is forbidden


def test_no_secret_state_or_env_file_is_tracked() -> None:
    offenders = [name for name in _candidate_files() if _forbidden(name)]
    assert not offenders, f"must not be committed: {offenders}"


def test_no_private_key_or_service_account_key_in_tracked_text() -> None:
    offenders: list[str] = []
    for name in _candidate_files():
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        if PRIVATE_KEY.search(text) or SERVICE_ACCOUNT_KEY.search(text):
            offenders.append(name)
    assert not offenders, f"key material in: {offenders}"


def test_gitignore_keeps_state_and_secrets_out() -> None:
    probes = [
        "infra/terraform/terraform.tfstate",
        "infra/terraform/terraform.tfvars",
        "infra/terraform/.terraform/x",
        ".env",
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *probes],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    assert set(result.stdout.split()) == set(probes)
