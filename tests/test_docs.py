"""Citations of the documentation resolve: every ``docs/<page>.md#<anchor>`` cited in the repository
names an explicit ``<a id="...">`` mark of that page (docs/README.md: anchors are never renamed or
removed), and code cites those pages rather than a specification outside the repository. What the
documentation shows of the code exists: every dotted path ``endorm_tasks.x.y`` in docs/ and the READMEs
imports, and every ``from endorm_tasks ... import`` line there runs."""

from __future__ import annotations

import importlib
import re
import subprocess
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", "build", "dist"}
# A docs page path with an anchor, also behind `../`; a placeholder such as `#<anchor>` is not a citation.
CITATION = re.compile(r"(?<![\w.-])((?:\.\./)*docs/[\w./-]+?\.md)#([\w-]+)")
# A relative Markdown link with an anchor, e.g. `[tie rule](definitions.md#tie-rule)` inside docs/.
MARKDOWN_LINK = re.compile(r"\]\((?!https?:|#)([^)\s#]+?\.md)#([\w-]+)\)")
ANCHOR = re.compile(r"""<a\s+id=["']([^"']+)["']""")
OLD_SPEC = "SPEC \u00a7"  # spelled with an escape so that this file does not cite it
NO_OLD_SPEC_IN = ("endorm_tasks", "tests", "rl", "task_configs")


@lru_cache(maxsize=1)
def repository_files() -> tuple[Path, ...]:
    """Tracked and untracked-but-not-ignored files (git), else every file outside build/VCS directories."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO, capture_output=True, check=True, timeout=60,
        ).stdout.decode("utf-8").split("\0")
        paths = [REPO / p for p in listed if p]
    except (OSError, subprocess.SubprocessError):
        paths = [p for p in REPO.rglob("*") if not SKIP_DIRS & set(p.relative_to(REPO).parts)]
    return tuple(p for p in paths if p.is_file() and not p.name.endswith(".egg-info"))


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None  # images, archives, stores


@lru_cache(maxsize=None)
def anchors_of(page: Path) -> frozenset[str]:
    return frozenset(ANCHOR.findall(page.read_text(encoding="utf-8")))


def citations() -> list[tuple[str, int, Path, str]]:
    """(file, line, cited page, anchor) for every anchored docs citation in the repository."""
    found = []
    for path in repository_files():
        text = text_of(path)
        if text is None or "docs" not in text and path.parent != DOCS:
            continue
        where = path.relative_to(REPO).as_posix()
        for number, line in enumerate(text.splitlines(), start=1):
            for page, anchor in CITATION.findall(line):
                found.append((where, number, REPO / re.sub(r"^(\.\./)+", "", page), anchor))
            if path.suffix == ".md":
                for target, anchor in MARKDOWN_LINK.findall(line):
                    resolved = (path.parent / target).resolve()
                    if resolved.parent == DOCS.resolve():
                        found.append((where, number, resolved, anchor))
    return found


def test_every_cited_docs_anchor_exists():
    found = citations()
    # The citations known today (docs/README.md's example, docs/architecture.md's links, rl/config.py):
    # finding none would mean the pattern broke, not that everything is fine.
    assert len(found) >= 10, found
    broken = []
    for where, number, page, anchor in found:
        if not page.is_file():
            broken.append(f"{where}:{number}: {page.relative_to(REPO)} does not exist")
        elif anchor not in anchors_of(page):
            broken.append(f"{where}:{number}: {page.relative_to(REPO)}#{anchor} has no <a id=\"{anchor}\">")
    assert not broken, "broken docs citations:\n" + "\n".join(broken)


def test_docs_readme_lists_only_existing_anchors():
    """The anchor table of docs/README.md (the citable rules) names marks of definitions.md."""
    listed = re.findall(r"^\| `([\w-]+)` \|", (DOCS / "README.md").read_text(encoding="utf-8"), flags=re.M)
    assert len(listed) >= 40
    assert sorted(set(listed) - anchors_of(DOCS / "definitions.md")) == []


def test_anchors_are_unique_per_page():
    for page in DOCS.glob("*.md"):
        marks = ANCHOR.findall(page.read_text(encoding="utf-8"))
        assert len(marks) == len(set(marks)), f"{page.name}: duplicate anchors {sorted({m for m in marks if marks.count(m) > 1})}"


def test_code_does_not_cite_the_external_spec():
    offenders = []
    for path in repository_files():
        relative = path.relative_to(REPO)
        if relative.parts[0] not in NO_OLD_SPEC_IN or path == Path(__file__).resolve():
            continue
        text = text_of(path)
        if text and OLD_SPEC in text:
            offenders.append(f"{relative.as_posix()} ({text.count(OLD_SPEC)})")
    assert not offenders, f"{len(offenders)} files cite {OLD_SPEC!r}: " + ", ".join(sorted(offenders))


# -- the code the documentation shows --

PACKAGES = ("endorm_tasks", "endorm_rl")
# `endorm_tasks.reward.scorer.EndoScorer` (a module, then attributes); not the tail of a file path.
DOTTED_PATH = re.compile(r"(?<![\w./-])((?:endorm_tasks|endorm_rl)(?:\.[A-Za-z_]\w*)+)")
# `from endorm_tasks.x import a, b`, `from endorm_tasks import (a, b)` and `import endorm_tasks.x as e`, also
# inside a shell line's `python -c '...; ...'`.
IMPORT_STATEMENT = re.compile(
    r"\bfrom (?:endorm_tasks|endorm_rl)[\w.]* import (?:\([^)]*\)|\w+(?:, *\w+)*(?: as \w+)?)"
    r"|(?<![\w.])import (?:endorm_tasks|endorm_rl)[\w.]*(?: as \w+)?"
)


def documentation_pages() -> list[Path]:
    """docs/*.md and every README.md of the repository."""
    return sorted(p for p in repository_files() if p.suffix == ".md" and (p.parent == DOCS or p.name == "README.md"))


def resolve_dotted(path: str) -> object:
    """The object a dotted path names: its longest importable module prefix, then attributes."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:end]))
        except ModuleNotFoundError as err:
            if err.name is not None and not ".".join(parts[:end]).startswith(err.name):
                raise  # the module exists but imports something missing
            continue
        for attribute in parts[end:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(path)


def shown_in_docs(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(page:line, match) for every match of ``pattern`` in the documentation pages."""
    found = []
    for page in documentation_pages():
        where = page.relative_to(REPO).as_posix()
        text = page.read_text(encoding="utf-8")
        for match in pattern.finditer(text):
            found.append((f"{where}:{text.count(chr(10), 0, match.start()) + 1}", match.group(0)))
    return found


def test_every_dotted_path_in_the_docs_imports():
    found = shown_in_docs(DOTTED_PATH)
    assert len(found) >= 10, found  # none found would mean the pattern broke
    broken = []
    for where, path in found:
        try:
            resolve_dotted(path)
        except (ImportError, AttributeError) as err:
            broken.append(f"{where}: {path}: {type(err).__name__}: {err}")
    assert not broken, "dotted paths the docs show that do not import:\n" + "\n".join(broken)


def test_every_import_line_in_the_docs_runs():
    found = shown_in_docs(IMPORT_STATEMENT)
    assert len(found) >= 4, found  # none found would mean the pattern broke
    broken = []
    for where, statement in found:
        try:
            exec(compile(statement, where, "exec"), {})  # noqa: S102 - the repository's own documentation
        except ImportError as err:
            broken.append(f"{where}: {statement}: {err}")
    assert not broken, "import lines the docs show that fail:\n" + "\n".join(broken)
