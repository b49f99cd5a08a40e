"""Markdown outline -> task specs: write a plan as a nested list, import it in one go.

:func:`parse_outline` reads the text and returns one *task spec* per heading or
list item, in document order (so a parent always comes before its children).
It only parses and checks the outline's own shape; whether ids clash with the
project's tasks, whether ``after=`` names exist, cycles and depth limits are
checked by whoever appends the specs.

Example (the test suite checks that it parses to exactly the specs below)::

    # Web app {!high}
    The public site and its API.

    - Backend {#backend}
      - Models {#models effort=3 priority=high caps=python}
      - Routes {#routes effort=5h after=models caps=python,api}
    - Frontend {#ui after=backend priority=critical}
      Any indented non-list line under an item is appended to its description.
    - [x] Pick a name
    - [ ] Routes

    ## Launch {effort=0.5}
    1. Announce it {after=ui,pick-a-name}

gives::

    [
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

The syntax
----------
* **List items** ``- ``, ``* ``, ``+ ``, ``1. `` or ``1) `` are tasks. Nesting is
  indentation: one level is 2 or 4 spaces (the first indented item fixes which,
  for the whole outline) or one tab. A nested item's parent is the item one level
  above it; an item may go at most one level deeper than the item above it.
* **Headings** ``#`` .. ``######`` (at column 1, followed by a space) are tasks
  too. A heading's children are the unindented list items below it and the
  deeper headings below it, up to the next heading of the same or a higher
  level. Heading levels may be skipped (``#`` then ``###``): a heading's parent
  is simply the nearest heading above it with fewer ``#``. A heading closes
  every open list. A closing ``##`` sequence is ignored, as in Markdown.
* **Descriptions**: a non-list line indented under an item is appended to the
  description of the deepest open item it is indented past. An unindented
  non-list line ends the open lists and is appended to the description of the
  current heading (text outside any heading or item is an error). Lines are
  stripped and joined with a newline; a blank line between two description
  lines is kept as a paragraph break.
* **Attributes**: a ``{...}`` block at the very end of an item or heading holds
  space-separated attributes; everything before it is the title.

  ==================  =========================================================
  ``#ID``             explicit id (letters, digits, ``. _ : -``; starts with a
                      letter or digit; at most 128 characters; unique in the
                      outline)
  ``effort=N``        hours, ``N`` a non-negative decimal: ``3``, ``2.5``,
                      ``3h``
  ``priority=P``      ``low``, ``medium``, ``high`` or ``critical`` (any case);
  ``!P``              the same, shorter: ``!high``
  ``caps=a,b``        required capabilities (repeatable: the lists are merged)
  ``after=id1,id2``   dependencies (repeatable: the lists are merged)
  ==================  =========================================================

  A title that itself ends in braces keeps them if an empty ``{}`` follows:
  ``- Render {x} {}`` has the title ``Render {x}``.
* **Ids**: an item without ``#ID`` gets a slug of its title: accents dropped,
  lowercased, every run of other characters than ``a-z0-9`` turned into one
  ``-``, trimmed (``task`` if nothing is left), at most 100 characters. Explicit
  ids are reserved first, then slugs are given in document order, made unique
  with ``-2``, ``-3``... suffixes. ``after=`` may name any id of the outline,
  explicit or slug (``after=routes`` names the first "Routes", ``routes-2`` the
  second). A name that is in no item of the outline is kept as it is: it may be
  an existing task of the project (the caller checks).
* **Checkboxes**: ``- [x] Title`` (or ``[X]``) sets ``metadata
  {"checked": true}``, ``- [ ] Title`` sets ``{"checked": false}``. Nothing
  else here: the importer (:func:`planner.plans.importing.read_outline`) makes a
  checked item start completed.
* Blank lines and thematic breaks (``---``, ``***``, ``___``) are ignored. This
  is not a full Markdown parser: code fences, block quotes and HTML are read as
  plain text lines.

The specs
---------
Each spec is a dict with ``id`` and ``title`` always, then only the keys the
outline gave: ``description`` (non-empty), ``parent`` (for a task below a
heading or item), ``priority``, ``effort`` (float), ``capabilities``,
``depends_on`` (duplicates dropped, order kept) and ``metadata``.

Errors
------
Every problem is collected, then one :class:`OutlineError` lists them all, each
with its 1-based line: an indentation jump of more than one level (or an
indentation that is not a whole number of levels), an unknown attribute, a bad
value (effort, priority, id, capability), an attribute given twice, a duplicate
explicit id, an empty title, an item that depends on itself, text outside any
item or heading, and an outline with no task at all.

Cost: O(L + A) time and memory for L lines and A attribute tokens (slug
suffixes are counted per slug, so unique ids stay O(1) each, amortised).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, NamedTuple, get_args

from pydantic import TypeAdapter, ValidationError

from planner.domain import events as ev

PRIORITIES: tuple[str, ...] = get_args(ev.Priority)

_ID = TypeAdapter(ev.TaskId)
_NAME = TypeAdapter(ev.Name)
_CAPABILITY = TypeAdapter(ev.Capability)

_HEADING = re.compile(r"^(#{1,6})(?:[ \t]+(.*))?$")
_ITEM = re.compile(r"^([ \t]*)(?:[-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$")
_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_ATTRS = re.compile(r"^(.*?)[ \t]*\{([^{}]*)\}[ \t]*$")
_CHECKBOX = re.compile(r"^\[([ xX])\](?:[ \t]+(.*))?$")
_EFFORT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)h?$", re.IGNORECASE)
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_SLUG_MAX = 100
_KNOWN = "#ID, effort=N, priority=P or !P, caps=a,b, after=id1,id2"


class Problem(NamedTuple):
    """One thing wrong with the outline, at a 1-based ``line``."""

    line: int
    message: str


class OutlineError(ValueError):
    """The outline cannot be imported; ``problems`` lists every reason, by line.

    ``str()`` gives one ``source:LINE: message`` line per problem, in line order.
    """

    def __init__(self, problems: list[Problem], source: str = "<outline>"):
        self.problems = sorted(problems, key=lambda p: p.line)
        self.source = source
        super().__init__("\n".join(f"{source}:{p.line}: {p.message}" for p in self.problems))


@dataclass(eq=False)
class _Node:
    """A task being read: a heading (``heading`` = its number of ``#``) or a list item (0)."""

    line: int
    heading: int
    parent: _Node | None
    title: str = ""
    explicit_id: str | None = None
    id: str = ""
    priority: str | None = None
    effort: float | None = None
    capabilities: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    checked: bool | None = None
    description: list[str] = field(default_factory=list)


def parse_outline(text: str, source: str = "<outline>") -> list[dict[str, Any]]:
    """The task specs of the Markdown outline ``text``, in document order.

    ``source`` names the outline in error messages (a file name, say).
    Raises :class:`OutlineError` listing every problem found. O(lines).
    """
    reader = _Reader()
    for number, line in enumerate(text.splitlines(), start=1):
        reader.feed(number, line)
    problems = reader.problems
    if not reader.nodes:
        raise OutlineError([Problem(1, "the outline has no tasks: write list items (- Title) or headings (# Title)")],
                           source)
    _assign_ids(reader.nodes)
    for node in reader.nodes:
        if node.id in node.after:
            problems.append(Problem(node.line, f"after={node.id}: the item cannot depend on itself"))
    if problems:
        raise OutlineError(problems, source)
    return [_spec(node) for node in reader.nodes]


class _Reader:
    """The line-by-line state machine behind :func:`parse_outline`: O(1) amortised per line."""

    def __init__(self) -> None:
        self.nodes: list[_Node] = []
        self.problems: list[Problem] = []
        self.headings: list[_Node] = []  # open headings, fewer '#' first
        self.items: list[_Node] = []  # open list items: items[k] is at level k
        self.unit: int | None = None  # spaces per level, fixed by the first indented item
        self.ids: dict[str, int] = {}  # explicit id -> line it was given on
        self.blank = False  # a blank line since the last text line

    def feed(self, number: int, line: str) -> None:
        """Read one line (``number`` is 1-based)."""
        if not line.strip():
            self.blank = True
            return
        if _BREAK.match(line):
            return
        if heading := _HEADING.match(line):
            self._heading(number, len(heading.group(1)), heading.group(2) or "")
        elif item := _ITEM.match(line):
            self._item(number, item.group(1), item.group(2) or "")
        else:
            self._text(number, line)
        self.blank = False

    def _heading(self, number: int, level: int, text: str) -> None:
        self.items.clear()
        while self.headings and self.headings[-1].heading >= level:
            self.headings.pop()
        node = _Node(number, level, self.headings[-1] if self.headings else None)
        self._content(node, _CLOSING_HASHES.sub("", text))
        self.headings.append(node)

    def _item(self, number: int, indent: str, text: str) -> None:
        level, reported = self._level(number, indent)
        if reported:  # one problem per line is enough: nest it as well as we can and go on
            level = min(level, len(self.items))
        elif level > len(self.items):
            if self.items:
                above = len(self.items) - 1
                self._problem(number, f"indented {level} levels, but the item above is at level {above}: "
                                      f"a nested item goes exactly one level deeper than its parent")
            else:
                self._problem(number, "indented, but there is no list item above it to nest under: "
                                      "start the list at column 1")
            level = len(self.items)
        del self.items[level:]
        parent = self.items[-1] if self.items else (self.headings[-1] if self.headings else None)
        node = _Node(number, 0, parent)
        checkbox = _CHECKBOX.match(text)
        if checkbox:
            node.checked = checkbox.group(1) != " "
            text = checkbox.group(2) or ""
        self._content(node, text)
        self.items.append(node)

    def _level(self, number: int, indent: str) -> tuple[int, bool]:
        """The nesting level of a list item's leading whitespace, and whether a problem was reported."""
        tabs, spaces = indent.count("\t"), indent.count(" ")
        if not spaces:
            return tabs, False
        if self.unit is None:
            if spaces in (2, 4):
                self.unit = spaces
                return tabs + 1, False
            if spaces % 2 == 0:
                self._problem(number, f"indented by {spaces} spaces, more than one level below the item above: "
                                      "a nested item goes exactly one level deeper than its parent")
            else:
                self._problem(number, f"indented by {spaces} spaces: indent by 2 or 4 spaces (or a tab) per level")
            return tabs + spaces // 2, True
        if spaces % self.unit:
            self._problem(number, f"indented by {spaces} spaces, not a multiple of this outline's "
                                  f"{self.unit} spaces per level (set by its first indented item)")
            return tabs + spaces // self.unit, True
        return tabs + spaces // self.unit, False

    def _text(self, number: int, line: str) -> None:
        stripped = line.lstrip(" \t")
        indent = line[: len(line) - len(stripped)]
        target: _Node | None = None
        if indent and self.items:
            depth = indent.count("\t") + indent.count(" ") / (self.unit or 2)
            # the deepest open item it is indented past: levels 0 .. ceil(depth) - 1
            target = self.items[min(len(self.items), math.ceil(depth)) - 1]
        elif self.headings:
            self.items.clear()
            target = self.headings[-1]
        if target is None:
            self._problem(number, "text outside any item or heading: make it a list item (- ...) or a heading "
                                  "(# ...), or indent it under an item to describe that item")
            return
        if self.blank and target.description:
            target.description.append("")
        target.description.append(stripped.rstrip())

    def _content(self, node: _Node, text: str) -> None:
        """Title and attributes of a heading or item; registers ``node``."""
        attrs = _ATTRS.match(text)
        if attrs:
            text = attrs.group(1)
            self._attributes(node, attrs.group(2))
        node.title = text.strip()
        if not node.title:
            self._problem(node.line, "empty title: write the task's title before any {attributes}")
        elif not _valid(_NAME, node.title):
            self._problem(node.line, f"the title is {len(node.title)} characters long; at most 500 are allowed")
        self.nodes.append(node)

    def _attributes(self, node: _Node, block: str) -> None:
        seen: set[str] = set()
        for token in block.split():
            key, value = _key_value(token)
            if key in ("id", "effort", "priority"):
                if key in seen:
                    self._problem(node.line, f"{token}: {'the id' if key == 'id' else key} is given twice")
                    continue
                seen.add(key)
            if key == "id":
                self._explicit_id(node, value)
            elif key == "effort":
                effort = _EFFORT.match(value)
                if effort:
                    node.effort = float(effort.group(1))
                else:
                    self._problem(node.line, f"{token}: the effort must be a number of hours >= 0 "
                                             "(effort=3, effort=2.5 or effort=3h)")
            elif key == "priority":
                if value.lower() in PRIORITIES:
                    node.priority = value.lower()
                else:
                    self._problem(node.line, f"{token}: unknown priority {value!r}; use one of "
                                             f"{', '.join(PRIORITIES)}")
            elif key == "caps":
                for cap in value.split(","):
                    if not _valid(_CAPABILITY, cap):
                        what = "an empty capability" if not cap else f"capability {cap!r} is too long (max 100)"
                        self._problem(node.line, f"{token}: {what}")
                    elif cap not in node.capabilities:
                        node.capabilities.append(cap)
            elif key == "after":
                for dep in value.split(","):
                    if not _valid(_ID, dep):
                        self._problem(node.line, f"{token}: {dep!r} is not a task id (letters, digits and . _ : -, "
                                                 "starting with a letter or digit)")
                    elif dep not in node.after:
                        node.after.append(dep)
            else:
                self._problem(node.line, f"unknown attribute {token!r}; known: {_KNOWN}")

    def _explicit_id(self, node: _Node, value: str) -> None:
        if not _valid(_ID, value):
            self._problem(node.line, f"#{value}: not a valid id (letters, digits and . _ : -, starting with "
                                     "a letter or digit, at most 128 characters)")
        elif value in self.ids:
            self._problem(node.line, f"duplicate id #{value} (first given on line {self.ids[value]})")
        else:
            self.ids[value] = node.line
            node.explicit_id = value

    def _problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(line, message))


def _key_value(token: str) -> tuple[str, str]:
    """An attribute token's kind and value; the kind is "" when unknown."""
    if token.startswith("#"):
        return "id", token[1:]
    if token.startswith("!"):
        return "priority", token[1:]
    key, sep, value = token.partition("=")
    if sep and key in ("effort", "priority", "caps", "after"):
        return key, value
    return "", token


def _valid(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def slugify(title: str) -> str:
    """``title`` as an id: ASCII, lowercase, ``-`` between words, at most 100 characters; O(len)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_JUNK.sub("-", ascii_title.lower()).strip("-")
    return slug[:_SLUG_MAX].rstrip("-") or "task"


def _assign_ids(nodes: list[_Node]) -> None:
    """Explicit ids as given; slugs for the rest, unique, in document order. O(n) amortised."""
    taken = {n.explicit_id for n in nodes if n.explicit_id}
    suffix: dict[str, int] = {}
    for node in nodes:
        if node.explicit_id:
            node.id = node.explicit_id
            continue
        base = slugify(node.title)
        candidate, n = base, suffix.get(base, 1)
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        suffix[base] = n
        taken.add(candidate)
        node.id = candidate


def _spec(node: _Node) -> dict[str, Any]:
    spec: dict[str, Any] = {"id": node.id, "title": node.title}
    if node.description:
        spec["description"] = "\n".join(node.description)
    if node.parent is not None:
        spec["parent"] = node.parent.id
    if node.priority is not None:
        spec["priority"] = node.priority
    if node.effort is not None:
        spec["effort"] = node.effort
    if node.capabilities:
        spec["capabilities"] = node.capabilities
    if node.after:
        spec["depends_on"] = node.after
    if node.checked is not None:
        spec["metadata"] = {"checked": node.checked}
    return spec
