"""The documentation says what the code does: the configuration page is generated from the
settings, and the README stays a front door."""

from __future__ import annotations

import re

from service.settings import PROJECT_ROOT, Settings, configuration_page

DOCS = PROJECT_ROOT / "docs"


def test_the_configuration_page_is_the_one_generated_from_the_settings():
    page = (DOCS / "configuration.md").read_text("utf-8")
    assert page == configuration_page(), (
        "docs/configuration.md and service/settings.py disagree: run "
        "`python -m service.settings > docs/configuration.md`"
    )


def test_every_setting_is_on_the_configuration_page_with_a_description():
    page = configuration_page()
    for name, field in Settings.model_fields.items():
        assert f"`KHAMTOP_{name.upper()}`" in page
        assert field.description, f"the setting {name} has no description"


def test_the_readme_is_a_front_door_of_at_most_200_lines():
    readme = (PROJECT_ROOT / "README.md").read_text("utf-8")
    assert len(readme.splitlines()) <= 200
    assert "bash scripts/serve.sh" in readme and "bash scripts/test.sh" in readme


def test_relative_links_in_the_docs_point_to_files_that_exist():
    pages = [PROJECT_ROOT / "README.md", *DOCS.rglob("*.md"), *(PROJECT_ROOT / "eval").glob("*.md")]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text("utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(PROJECT_ROOT)} -> {target}")
    assert not broken, broken
