"""Markdown outline import: the documented syntax, hierarchy, ids, and every error with its line."""

import ast
import textwrap

import pytest

from planner.plans import outline
from planner.plans.outline import OutlineError, Problem, parse_outline, slugify


def parse(text: str) -> list[dict]:
    return parse_outline(textwrap.dedent(text).lstrip("\n"))


def by_id(specs: list[dict]) -> dict[str, dict]:
    return {s["id"]: s for s in specs}


def errors(text: str) -> list[Problem]:
    with pytest.raises(OutlineError) as info:
        parse(text)
    return info.value.problems


# -- the documented example ---------------------------------------------------------------------
EXPECTED = [
    {"id": "web-app", "title": "Web app", "description": "The public site and its API.", "priority": "high"},
    {"id": "backend", "title": "Backend", "parent": "web-app"},
    {"id": "models", "title": "Models", "parent": "backend", "priority": "high", "effort": 3.0,
     "capabilities": ["python"]},
    {"id": "routes", "title": "Routes", "parent": "backend", "effort": 5.0, "capabilities": ["python", "api"],
     "depends_on": ["models"]},
    {"id": "ui", "title": "Frontend",
     "description": "Any indented non-list line under an item is appended to its description.",
     "parent": "web-app", "priority": "critical", "depends_on": ["backend"]},
    {"id": "pick-a-name", "title": "Pick a name", "parent": "web-app", "metadata": {"checked": True}},
    {"id": "routes-2", "title": "Routes", "parent": "web-app", "metadata": {"checked": False}},
    {"id": "launch", "title": "Launch", "parent": "web-app", "effort": 0.5},
    {"id": "announce-it", "title": "Announce it", "parent": "launch", "depends_on": ["ui", "pick-a-name"]},
]


def _docstring_blocks() -> tuple[str, str]:
    doc = outline.__doc__
    assert doc is not None
    example = doc[doc.index("Example"):doc.index("gives::")]
    example = example[example.index("::") + 2:]
    gives = doc[doc.index("gives::") + len("gives::"):doc.index("The syntax")]
    return textwrap.dedent(example).strip("\n") + "\n", textwrap.dedent(gives).strip()


def test_the_documented_example_parses_to_exactly_the_documented_specs():
    example, gives = _docstring_blocks()
    specs = parse_outline(example)
    assert specs == EXPECTED
    assert ast.literal_eval(gives) == EXPECTED  # the docstring shows what the parser returns
    # key order too: id and title first, then only the keys that were given
    assert [list(s) for s in specs][4] == ["id", "title", "description", "parent", "priority", "depends_on"]


# -- hierarchy --------------------------------------------------------------------------------
def test_three_levels_of_items_nest_under_the_item_one_level_above():
    specs = parse("""
        - A
          - B
            - C
            - D
          - E
        - F
          - G
    """)
    assert [(s["id"], s.get("parent")) for s in specs] == [
        ("a", None), ("b", "a"), ("c", "b"), ("d", "b"), ("e", "a"), ("f", None), ("g", "f")]
    assert "parent" not in specs[0]  # only the keys that were given


def test_headings_contain_the_items_and_deeper_headings_below_them():
    specs = parse("""
        - Loose item
        # One
        - item 1
          - item 1a
        ## Two
        - item 2
        #### Four (a skipped level)
        - item 4
        ### Three
        # Other ##
        - item 5
    """)
    assert [(s["id"], s.get("parent")) for s in specs] == [
        ("loose-item", None), ("one", None), ("item-1", "one"), ("item-1a", "item-1"), ("two", "one"),
        ("item-2", "two"), ("four-a-skipped-level", "two"), ("item-4", "four-a-skipped-level"),
        ("three", "two"), ("other", None), ("item-5", "other")]


def test_a_heading_closes_the_open_lists():
    assert errors("""
        # A
        - x
        # B
          - y
    """)[0].line == 4


def test_four_spaces_per_level():
    specs = parse("""
        - A
            - B
                - C
            - D
    """)
    assert [s.get("parent") for s in specs] == [None, "a", "b", "a"]


def test_tabs_are_one_level_each():
    specs = parse_outline("- A\n\t- B\n\t\t- C\n\t- D {effort=2}\n\t\tabout D\n- E\n")
    assert [(s["id"], s.get("parent")) for s in specs] == [
        ("a", None), ("b", "a"), ("c", "b"), ("d", "a"), ("e", None)]
    assert by_id(specs)["d"]["description"] == "about D"


def test_numbered_lists_and_bullet_kinds_mix():
    specs = parse("""
        1. First
           a description of First
        2) Second
          * Second a
          + Second b
        10. Tenth
    """)
    assert [(s["id"], s.get("parent")) for s in specs] == [
        ("first", None), ("second", None), ("second-a", "second"), ("second-b", "second"), ("tenth", None)]
    assert by_id(specs)["first"]["description"] == "a description of First"


def test_description_continuation_lines():
    specs = parse("""
        # Project
        Intro line one.
        Intro line two.

        Second paragraph.
        - A
          first line of A
          second line of A

          a new paragraph of A
          - B
            about B
          more about A, indented past A only
        Back to the heading once unindented.
        - C
    """)
    items = by_id(specs)
    assert items["project"]["description"] == (
        "Intro line one.\nIntro line two.\n\nSecond paragraph.\nBack to the heading once unindented.")
    assert items["a"]["description"] == ("first line of A\nsecond line of A\n\na new paragraph of A\n"
                                         "more about A, indented past A only")
    assert items["b"]["description"] == "about B"
    assert items["c"]["parent"] == "project" and "description" not in items["c"]


def test_blank_lines_and_thematic_breaks_are_ignored():
    specs = parse("""

        - A

        ---
          - B
        * * *
    """)
    assert [(s["id"], s.get("parent")) for s in specs] == [("a", None), ("b", "a")]


# -- attributes ---------------------------------------------------------------------------------
def test_attribute_forms():
    specs = by_id(parse("""
        - Plain
        - Hours {effort=3h !Critical}
        - Fraction {effort=.5 priority=LOW}
        - Decimal {effort=2.5}
        - Zero {effort=0 priority=medium}
        - Merged {caps=a,b caps=b,c after=x after=x,y}
        - Attached{#tight}
        - Render {x} {}
        - No attributes {not closed
    """))
    assert specs["plain"] == {"id": "plain", "title": "Plain"}
    assert specs["hours"]["effort"] == 3.0 and specs["hours"]["priority"] == "critical"
    assert specs["fraction"]["effort"] == 0.5 and specs["fraction"]["priority"] == "low"
    assert specs["decimal"]["effort"] == 2.5
    assert specs["zero"]["effort"] == 0.0
    assert specs["merged"]["capabilities"] == ["a", "b", "c"]
    assert specs["merged"]["depends_on"] == ["x", "y"]
    assert specs["tight"]["title"] == "Attached"
    assert specs["render-x"]["title"] == "Render {x}"
    assert specs["no-attributes-not-closed"]["title"] == "No attributes {not closed"


def test_checkboxes_set_metadata_checked():
    specs = parse("""
        - [x] Done
        - [X] Also done
        - [ ] Open {#open}
        - [y] Not a checkbox
    """)
    assert [s.get("metadata") for s in specs] == [
        {"checked": True}, {"checked": True}, {"checked": False}, None]
    assert specs[3]["title"] == "[y] Not a checkbox"


def test_after_may_name_later_items_and_unknown_ids_are_kept():
    specs = by_id(parse("""
        - First {after=second,existing-task,other:project.id}
        - Second
    """))
    assert specs["first"]["depends_on"] == ["second", "existing-task", "other:project.id"]


# -- ids ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("title, slug", [
    ("Hello, World!", "hello-world"),
    ("  Crème brûlée v2.0  ", "creme-brulee-v2-0"),
    ("C++ / Rust", "c-rust"),
    ("!!!", "task"),
    ("日本語", "task"),
    ("x" * 150, "x" * 100),
    ("a" * 99 + " b", "a" * 99),
])
def test_slugify(title, slug):
    assert slugify(title) == slug


def test_slug_ids_are_unique_and_avoid_explicit_ids_anywhere_in_the_outline():
    specs = parse("""
        - Setup
        - Setup
        - Setup!
        - Build
        - Deploy {after=setup-3,build-2}
        - Build {#build}
        - Setup 2
    """)
    assert [s["id"] for s in specs] == ["setup", "setup-2", "setup-3", "build-2", "deploy", "build", "setup-2-2"]
    assert specs[4]["depends_on"] == ["setup-3", "build-2"]


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, line, fragment", [
    ("- A\n        - B\n", 2, "indented by 8 spaces, more than one level below"),  # the unit is 2 or 4
    ("- A\n  - B\n        - C\n", 3, "indented 4 levels, but the item above is at level 1"),
    ("- A\n    - B\n      - C\n", 3, "not a multiple of this outline's 4 spaces per level"),
    ("- A\n  - B\n      - C\n", 3, "indented 3 levels, but the item above is at level 1"),
    ("- A\n\t\t- B\n", 2, "indented 2 levels, but the item above is at level 0"),
    ("  - A\n", 1, "no list item above it"),
    ("- A\n   - B\n", 2, "indented by 3 spaces: indent by 2 or 4 spaces"),
    ("- A\n  - B\n     - C\n", 3, "not a multiple of this outline's 2 spaces per level"),
    ("- A\n- B {#b size=3}\n", 2, "unknown attribute 'size=3'"),
    ("- A {fast}\n", 1, "unknown attribute 'fast'"),
    ("- A\n- B {effort=lots}\n", 2, "effort=lots: the effort must be a number of hours >= 0"),
    ("- A {effort=-1}\n", 1, "effort=-1: the effort must be a number of hours >= 0"),
    ("- A {effort=nan}\n", 1, "effort=nan"),
    ("- A {priority=urgent}\n", 1, "unknown priority 'urgent'; use one of low, medium, high, critical"),
    ("- A {!soon}\n", 1, "unknown priority 'soon'"),
    ("- A {effort=1 effort=2}\n", 1, "effort is given twice"),
    ("- A {#a #b}\n", 1, "the id is given twice"),
    ("- A {#-bad}\n", 1, "#-bad: not a valid id"),
    ("- A {caps=a,,b}\n", 1, "an empty capability"),
    ("- A {after=ok,no/slash}\n", 1, "'no/slash' is not a task id"),
    ("- A {#x}\n- B\n- C {#x}\n", 3, "duplicate id #x (first given on line 1)"),
    ("- A\n- {#x}\n", 2, "empty title"),
    ("- A\n- [ ]\n", 2, "empty title"),
    ("#\n", 1, "empty title"),
    ("- A {after=a}\n", 1, "after=a: the item cannot depend on itself"),
    ("Intro\n- A\n", 1, "text outside any item or heading"),
    ("- A\nnot indented\n", 2, "text outside any item or heading"),
    ("- " + "t" * 501 + "\n", 1, "at most 500 are allowed"),
])
def test_each_error_names_its_line(text, line, fragment):
    with pytest.raises(OutlineError) as info:
        parse_outline(text, source="plan.md")
    problems = info.value.problems
    assert len(problems) == 1, problems
    assert problems[0].line == line
    assert fragment in problems[0].message
    assert str(info.value) == f"plan.md:{line}: {problems[0].message}"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text", ["", "\n\n   \n", "just some text\nand more\n", "---\n"])
def test_an_outline_without_tasks_is_an_error(text):
    with pytest.raises(OutlineError) as info:
        parse_outline(text, source="empty.md")
    assert [p.line for p in info.value.problems] == [1]
    assert str(info.value).startswith("empty.md:1: the outline has no tasks")


def test_every_problem_is_reported_at_once_in_line_order():
    text = textwrap.dedent("""\
        # Plan {#plan}
        - A {effort=x}
              - B
        - C {#plan colour=red}
          - D {priority=urgent after=d}
        - E {!high !low}
    """)
    with pytest.raises(OutlineError) as info:
        parse_outline(text, source="plan.md")
    lines = [p.line for p in info.value.problems]
    assert lines == [2, 3, 4, 4, 5, 5, 6]
    report = str(info.value).splitlines()
    assert len(report) == 7
    assert all(row.startswith(f"plan.md:{n}: ") for row, n in zip(report, lines, strict=True))
    assert "duplicate id #plan (first given on line 1)" in report[2] + report[3]
    assert "unknown attribute 'colour=red'" in report[2] + report[3]
    assert "cannot depend on itself" in report[4] + report[5]
