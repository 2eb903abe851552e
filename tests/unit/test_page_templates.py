"""The pages' templates hold nothing their Content-Security-Policy would block (shared/http_guards.py): no
script but a file from /static, no inline style, no event handler attribute. The notifier's templates are
emails, not pages."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGE_TEMPLATES = sorted(
    path
    for path in [*ROOT.glob("services/*/templates/*.html"), *ROOT.glob("shared/templates/*.html")]
    if "notifier" not in path.parts
)
BLOCKED = {
    # A script served as a file from /static is what the policy allows ('self'); anything else is blocked.
    "a script": re.compile(r'<script\b(?!\s+src="/static/[\w.-]+\.js"( defer)?></script>)', re.IGNORECASE),
    "an inline style element": re.compile(r"<style\b", re.IGNORECASE),
    "a style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "an event handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "a javascript: link": re.compile(r"javascript:", re.IGNORECASE),
}


def test_the_pages_templates_are_found():
    names = {path.name for path in PAGE_TEMPLATES}
    assert {"base.html", "message.html", "invite.html", "claim.html", "new_claim.html"} <= names


@pytest.mark.parametrize("template", PAGE_TEMPLATES, ids=lambda path: str(path.relative_to(ROOT)))
def test_a_page_template_holds_nothing_the_policy_blocks(template):
    text = template.read_text()
    found = [what for what, pattern in BLOCKED.items() if pattern.search(text)]
    assert found == [], f"{template.relative_to(ROOT)} holds {', '.join(found)}; move it to /static"
