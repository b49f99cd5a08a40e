"""open_store and list_projects: creating and reopening a project, a missing project without
``create``, bad project names and unknown store schemes refused, projects listed by name."""

from __future__ import annotations

import pytest

from eventstore import InvalidArgumentError, LogNotFoundError, list_projects, open_store

from .conftest import fresh_project

BAD_NAMES = ["", ".hidden", "a/b", "x" * 101, "café", "has space", "..", "a\\b", "tab\there", "nul\x00"]


def test_a_missing_project_is_not_found_and_not_created(store_name, backend):
    project = fresh_project()
    with pytest.raises(LogNotFoundError):
        open_store(store_name, project, **backend.options)
    assert project not in list_projects(store_name)
    with pytest.raises(LogNotFoundError):
        open_store(store_name, project, **backend.options)


def test_create_makes_an_empty_project_that_opens_again(store_name, backend):
    project = fresh_project()
    created = open_store(store_name, project, create=True, **backend.options)
    try:
        assert created.last_seq == 0
        created.append([{"type": "t", "data": {"i": 1}}])
    finally:
        created.close()
    again = open_store(store_name, project, **backend.options)
    try:
        assert [r.data for r in again.read()] == [{"i": 1}]
    finally:
        again.close()
    again = open_store(store_name, project, create=True, **backend.options)  # create on an existing one: opens it
    try:
        assert again.last_seq == 1
    finally:
        again.close()


@pytest.mark.parametrize("project", BAD_NAMES, ids=repr)
@pytest.mark.parametrize("create", [False, True])
def test_a_bad_project_name_is_refused(store_name, backend, project, create):
    with pytest.raises(InvalidArgumentError, match="not a project name"):
        open_store(store_name, project, create=create, **backend.options)
    assert list_projects(store_name) == []  # nothing was made on the way


@pytest.mark.parametrize("project", ["x" * 100, "a", "A-b_c.9", "0", "a.b"])
def test_good_project_names_are_accepted(store_name, backend, project):
    handle = open_store(store_name, project, create=True, **backend.options)
    handle.close()
    assert list_projects(store_name) == [project]


@pytest.mark.parametrize("name", ["nosuch://x", "nosuch:x", "postgres-ish://user@host/db"])
def test_an_unknown_store_scheme_is_refused(name):
    with pytest.raises(InvalidArgumentError, match="unknown store"):
        open_store(name, "p", create=True)


def test_list_projects_names_every_project_sorted(store_name, backend):
    assert list_projects(store_name) == []
    names = ["zeta", "alpha", "m-1", "M_2"]
    for project in names:
        open_store(store_name, project, create=True, **backend.options).close()
    assert list_projects(store_name) == sorted(names)
    with pytest.raises(LogNotFoundError):
        open_store(store_name, "absent", **backend.options)
    assert list_projects(store_name) == sorted(names)
