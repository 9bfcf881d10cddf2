"""The installed package carries every subpackage and data file the product needs."""

import tomllib
from pathlib import Path

from tui_billing.service import scenario

PROJECT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_for_installation():
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(PROJECT).parts)
        for init in (PROJECT / "tui_billing").rglob("__init__.py")
    }
    assert on_disk - listed == set()


def test_the_demo_scenario_is_found():
    assert scenario.bundled("demo").is_file()


def test_packaged_schema_equals_the_seed():
    seeds = PROJECT.parent / "shared" / "seeds"
    for name in ("InvoiceGenerated.schema.json",):
        packaged = PROJECT / "tui_billing" / "domain" / "schemas" / name
        assert packaged.read_bytes() == (seeds / name).read_bytes()
