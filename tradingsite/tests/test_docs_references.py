"""Every `§` citation in the repository resolves to a heading of docs/projectx-gateway.md (#18).

In this repository `§n` always means a section of our gateway notes (code comments, docstrings,
READMEs, docs). A citation of a section that does not exist, or a path to the notes that does not
lead to the file in docs/, fails here with the file and line.
"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "docs" / "projectx-gateway.md"
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)*)\.? ", re.MULTILINE)
CITATION = re.compile(r"§\s?(\d+(?:\.\d+)*)(?:\s?[-\u2013]\s?(\d+(?:\.\d+)*))?")
PATH_TO_NOTES = re.compile(r"([\w./-]*)projectx-gateway\.md")
TEXT_SUFFIXES = {".py", ".md", ".html", ".txt", ".js", ".toml", ".cfg", ".ini", ".yml", ".yaml"}


def sections(text: str) -> set[str]:
    return set(HEADING.findall(text))


def dangling_citations(text: str, known: set[str]) -> list[tuple[int, str]]:
    """(line number, citation) of every `§` citation, or end of a `§a-b` range, not in `known`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in CITATION.finditer(line):
            missing = [n for n in match.groups() if n is not None and n not in known]
            if missing:
                found.append((number, match.group(0)))
    return found


def wrong_paths(text: str, folder: Path) -> list[tuple[int, str]]:
    """(line number, path) of every path to the notes that leads elsewhere, read from the citing
    file's folder or from the repository root; a bare file name is fine."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in PATH_TO_NOTES.finditer(line):
            prefix = match.group(1)
            if not prefix:
                continue
            targets = {(folder / match.group(0)).resolve(), (ROOT / match.group(0)).resolve()}
            if NOTES.resolve() not in targets:
                found.append((number, match.group(0)))
    return found


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    this = Path(__file__).resolve()  # its examples are wrong on purpose
    paths = (ROOT / name for name in listed if Path(name).suffix in TEXT_SUFFIXES)
    return [path for path in paths if path.resolve() != this]


def test_the_notes_have_the_sections_the_code_relies_on():
    known = sections(NOTES.read_text())
    assert {"1", "2", "3", "4", "5", "6.1", "6.3", "6.4", "7", "8", "9", "10.1", "11"} <= known


def test_every_citation_in_the_repository_resolves():
    known = sections(NOTES.read_text())
    problems = []
    files = tracked_text_files()
    assert len(files) > 100  # the scan really reads the repository
    for path in files:
        text = path.read_text(errors="replace")
        if "§" not in text and "projectx-gateway.md" not in text:
            continue
        where = path.relative_to(ROOT)
        problems += [f"{where}:{n}: {c} has no heading" for n, c in dangling_citations(text, known)]
        problems += [f"{where}:{n}: {p} is not docs/" for n, p in wrong_paths(text, path.parent)]
    assert problems == []


def test_the_checks_catch_what_they_are_for():
    known = {"1", "2", "6.3"}
    text = "fine §1 and §6.3 and §1-2\nbad §6.4 here\nand a range §2-5\n"
    assert dangling_citations(text, known) == [(2, "§6.4"), (3, "§2-5")]
    folder = ROOT / "simulator"
    assert wrong_paths("see ../docs/projectx-gateway.md and projectx-gateway.md", folder) == []
    assert wrong_paths("`docs/projectx-gateway.md`", ROOT / "markets") == []
    assert wrong_paths("`../shared/docs/projectx-gateway.md`", folder) == [
        (1, "../shared/docs/projectx-gateway.md")
    ]
    assert sections("## 3. REST\n### 6.4 Dialect\n#### 9.9 too deep\n") == {"3", "6.4"}
