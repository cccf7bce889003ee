"""The docs: the site builds with warnings as errors (a broken link, anchor or reference, or a docstring griffe
cannot parse, fails it), its reference pages carry the docstrings, and every relative link of the README (which
mkdocs does not check) points at a file that exists."""

import importlib.util
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")


def _has_mkdocs():
    return all(importlib.util.find_spec(m) is not None for m in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not _has_mkdocs():
        pytest.skip("mkdocs and mkdocstrings[python] are not installed (the [docs] extra; ./run.sh test installs it)")
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
                        "--site-dir", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr}"
    return out


def test_the_site_builds_strict_with_every_page(site):
    for page in DOCS.glob("*.md"):
        name = "index.html" if page.stem == "index" else f"{page.stem}/index.html"
        assert (site / name).is_file(), page.name


@pytest.mark.parametrize("page, text", [
    ("metrics", "Squared VGG feature distance between two batches of images"),
    ("paths", "Paths between fixed endpoints under a generator and a metric"),
    ("generators", "load_generator"),
    ("solvers", "subdivide_path"),
])
def test_reference_pages_carry_the_docstrings(site, page, text):
    html = (site / "reference" / page / "index.html").read_text(encoding="utf-8")
    assert text in html


def _slug(heading):
    """Python-Markdown's default ``toc`` slug, the anchor GitHub and mkdocs give a heading (ASCII headings)."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(markdown):
    fence = False
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def _links(markdown):
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)   # commands, not links
    text = re.sub(r"`[^`]*`", "", text)
    return [a or b for a, b in LINK.findall(text)]


def test_every_relative_link_of_the_readme_points_at_a_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [t for t in _links(readme) if not re.match(r"[a-z]+:", t)]
    assert links, "no links found: the pattern is wrong"
    for target in links:
        path, _, anchor = target.partition("#")
        file = ROOT / path if path else ROOT / "README.md"
        assert file.is_file(), f"README.md links to {target}, which does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file.read_text(encoding="utf-8")), f"README.md links to {target}: no such heading"


def test_the_readme_links_every_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {t.partition("#")[0] for t in _links(readme)}
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"docs/{page.name}" in linked, f"docs/{page.name} is not in the README's list of pages"


def test_the_readme_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```bash") + 1:]
    assert [line.split()[:2] for line in block[:2]] == [["./run.sh", "demo"], ["./run.sh", "test"]]
    assert block[2] == "```"
    assert len(lines) <= 523, "the README is kept to at most half its length before the docs site (1046 lines)"
