"""The project's documents: links that land, pictures that exist, no lab-notebook words.

README.md, RESULTS.md and docs/*.md are what a user reads first; a link to a
renamed section or a missing picture, or a reference to a tracker or a
work session the reader cannot see, is a defect like any other.
"""
import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = ["README.md", "RESULTS.md"] + sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def read(path: str) -> str:
  with open(os.path.join(REPO, path), encoding="utf-8") as f:
    return f.read()


def anchor(heading: str) -> str:
  """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
  return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: str) -> set:
  text = re.sub(r"```.*?```", "", read(path), flags=re.S)  # no headings inside code
  return {anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_anchor_follows_githubs_rule():
  assert anchor("What the paper's setup would cost (estimate)") == \
      "what-the-papers-setup-would-cost-estimate"
  assert anchor("Learners on several machines (`train.strategy=multiworker`)") == \
      "learners-on-several-machines-trainstrategymultiworker"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_local_link_and_picture_of_a_document_exists(document):
  folder = os.path.dirname(os.path.join(REPO, document))
  broken = []
  for target in LINK.findall(read(document)):
    if re.match(r"[a-z]+:", target):  # https:, mailto:: not checked here
      continue
    path, _, section = target.partition("#")
    linked = os.path.normpath(os.path.join(folder, path)) if path else os.path.join(REPO, document)
    if not os.path.exists(linked):
      broken.append(f"{target}: no file {os.path.relpath(linked, REPO)}")
    elif section and linked.endswith(".md") and section not in anchors(
        os.path.relpath(linked, REPO)):
      broken.append(f"{target}: no such section")
  assert not broken, broken


@pytest.mark.parametrize("document", ["README.md", "RESULTS.md"])
def test_the_readme_and_results_name_no_work_session_tracker_issue_or_missing_design_file(
    document):
  text = read(document)
  assert not re.search(r"\bsessions?\b", text, flags=re.I)
  assert not re.search(r"\bissues? #?\d+", text, flags=re.I)
  assert "DESIGN.md" not in text  # the design document is docs/design.md
