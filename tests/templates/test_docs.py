"""The README and docs/ link to each other and to the repository's files:
every relative link must name a file that exists (the README is the front
page; the reference lives in docs/, and a move must not leave links behind)."""
import glob
import os
import re

from localaws import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def pages():
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def test_every_relative_link_of_the_readme_and_docs_names_a_file_that_exists():
    broken = []
    for page in pages():
        with open(page) as f:
            text = f.read()
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(page), target))):
                broken.append(f"{os.path.relpath(page, ROOT)} -> {target}")
    assert not broken, broken


def test_the_readme_gives_the_two_commands_and_links_the_reference():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    assert "make demo" in text and "make test" in text
    for page in ("docs/reference.md", "docs/deploy.md", "docs/contributing.md"):
        assert f"]({page})" in text, page
