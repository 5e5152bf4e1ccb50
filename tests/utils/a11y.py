"""Reading a page's accessibility markup with html.parser: elements by id, form controls, tables.

Enough of a DOM for the form and table tests: every start tag with its attributes, the text inside
each element (its descendants' text included), and which labels, legends and table cells belong where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    """One element: tag, attributes (name → value, "" for a bare attribute), text inside, parent."""

    tag: str
    attrs: dict[str, str]
    parent: "Element | None" = None
    children: list["Element"] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    spoken_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All text inside, whitespace runs made one space."""
        return " ".join("".join(self.parts).split())

    @property
    def spoken(self) -> str:
        """The text inside that is not under an aria-hidden="true" descendant (what is read out)."""
        return " ".join("".join(self.spoken_parts).split())

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def find_all(self, tag: str | None = None, **attrs: str) -> list["Element"]:
        """Descendants with *tag* (any when None) whose attributes equal *attrs* (``class_`` means
        "has this class")."""
        found = []
        for child in self.children:
            if _matches(child, tag, attrs):
                found.append(child)
            found.extend(child.find_all(tag, **attrs))
        return found


def _matches(element: Element, tag: str | None, attrs: dict[str, str]) -> bool:
    if tag is not None and element.tag != tag:
        return False
    for name, value in attrs.items():
        if name == "class_":
            if value not in element.classes():
                return False
        elif element.attrs.get(name.replace("_", "-")) != value:
            return False
    return True


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: (v if v is not None else "") for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        hidden_below = False  # walking up: is there an aria-hidden element between the text and here?
        for element in reversed(self.stack[1:]):
            hidden_below = hidden_below or element.attrs.get("aria-hidden") == "true"
            element.parts.append(data)
            if not hidden_below:
                element.spoken_parts.append(data)


def parse(body: str) -> Element:
    """The document's root element (tag "#document")."""
    builder = _Builder()
    builder.feed(body)
    builder.close()
    return builder.root


def by_id(root: Element, element_id: str) -> Element:
    """The one element with id *element_id* (AssertionError if none or several)."""
    found = root.find_all(id=element_id)
    assert len(found) == 1, (element_id, len(found))
    return found[0]


def controls(root: Element, name: str) -> list[Element]:
    """The form controls (input, select, textarea) named *name*, hidden inputs left out."""
    return [e for e in root.find_all() if e.tag in ("input", "select", "textarea")
            and e.attrs.get("name") == name and e.attrs.get("type") != "hidden"]


def described_by(root: Element, control: Element) -> list[str]:
    """The texts of the elements the control's aria-describedby names (each must exist once)."""
    return [by_id(root, i).text for i in control.attrs.get("aria-describedby", "").split()]


def label_of(root: Element, control: Element) -> str:
    """What a screen reader reads as *control*'s name: its <label for=…>'s text minus aria-hidden parts."""
    labels = root.find_all("label", **{"for": control.attrs["id"]})
    assert len(labels) == 1, control.attrs
    return labels[0].spoken


def table_columns(table: Element) -> tuple[list[str], list[list[Element]]]:
    """(header texts, rows of <td> cells) of a <table>: a visually-hidden header counts by its text."""
    headers = [th.text for th in table.find_all("thead")[0].find_all("th")]
    rows = [tr.find_all("td") for tr in table.find_all("tbody")[0].find_all("tr")]
    return headers, rows
