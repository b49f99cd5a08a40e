"""The one state table: every pair is legal or refused, and the documented table is the code's."""

import itertools
import re
from pathlib import Path

import pytest

from planner.domain.events import TaskState
from planner.domain.transitions import IllegalTransition, check_transition
from projections import states
from projections.states import DONE, TERMINAL, TRANSITIONS

ALL = list(TaskState)


@pytest.mark.parametrize("current, target", list(itertools.product(ALL, ALL)))
def test_every_pair_is_legal_or_refused_with_the_legal_ones_named(current, target):
    if target in TRANSITIONS[current]:
        check_transition("T1", current, target)
        return
    with pytest.raises(IllegalTransition) as info:
        check_transition("T1", current, target)
    message = str(info.value)
    assert f"task T1 cannot go from {current} to {target}" in message
    for allowed in TRANSITIONS[current]:
        assert allowed in message
    if not TRANSITIONS[current]:
        assert "is final" in message


def _parse_table(text: str) -> dict:
    rows, current = {}, None
    for line in text.splitlines():
        match = re.match(r"^(\w+)\s{2,}(.*)$", line)
        if match and match.group(1) in {s.value for s in ALL}:
            current = TaskState(match.group(1))
            rows[current] = match.group(2)
        elif current and line.startswith(" " * 15) and line.strip():
            rows[current] += " " + line.strip()
        elif line.startswith("="):
            current = None
    return {
        state: frozenset(TaskState(word) for word in re.sub(r"\([^)]*\)", "", text).replace(",", " ").split()
                         if word in {s.value for s in ALL})
        for state, text in rows.items()
    }


def test_the_documented_tables_are_the_code():
    """The module docstring's table and the README's are both TRANSITIONS, word for word."""
    assert _parse_table(states.__doc__) == TRANSITIONS
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme[readme.index("from           to (legal)"):]
    assert _parse_table(table[: table.index("```")]) == TRANSITIONS


def test_the_paths_back_to_pending_exist_for_expiry_and_retry():
    assert TaskState.PENDING in TRANSITIONS[TaskState.ASSIGNED]  # lease expired or released
    assert TaskState.PENDING in TRANSITIONS[TaskState.IN_PROGRESS]  # lease expired
    assert TaskState.PENDING in TRANSITIONS[TaskState.FAILED]  # retry


def test_terminal_and_done():
    assert {TaskState.COMPLETED, TaskState.CANCELLED} == TERMINAL
    assert {TaskState.COMPLETED} == DONE
    assert all(TRANSITIONS[s] for s in ALL if s not in TERMINAL)
