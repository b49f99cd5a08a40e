import subprocess
import sys
from pathlib import Path

import pytest

from eventstore import EventLog


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "log"


@pytest.fixture
def log(log_path: Path):
    with EventLog.open(log_path, create=True, durability="none") as handle:
        yield handle


def ev(kind: str = "t", **data) -> dict:
    return {"type": kind, "data": data}


def segment_files(path: Path) -> list[Path]:
    return sorted((path / "log").glob("*.jsonl"))


def writer(path: Path, *args: str) -> subprocess.Popen:
    """Start ``stress.log_writer`` as a real process; acks arrive on its stdout."""
    return subprocess.Popen(
        [sys.executable, "-m", "stress.log_writer", str(path), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def parse_acks(text: str) -> dict[str, tuple[int, int]]:
    """Complete ``ack key first last`` lines -> {key: (first, last)}."""
    acks = {}
    for line in text.splitlines(keepends=True):
        if line.endswith("\n") and line.startswith("ack "):
            _, key, first, last = line.split()
            acks[key] = (int(first), int(last))
    return acks
