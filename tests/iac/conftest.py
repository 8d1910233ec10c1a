"""Helpers shared by the IaC tests (Terraform, Helm, …): repository paths,
tool lookup and a subprocess runner with a bounded wait."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / ".tools" / "venv" / "bin"


def tool(name: str) -> str | None:
    """Path of an executable from .tools/venv/bin (scripts/install-python-tools.sh), else from PATH."""
    candidate = TOOLS_BIN / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def run(cmd, *, cwd=None, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command with captured text output; the exit status is the caller's to judge."""
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
