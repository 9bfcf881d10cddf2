"""The installed package carries every subpackage and data file the product needs."""

import json
import tomllib
from importlib import resources
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("name", ["InvoiceGenerated.schema.json", "BillingAppExternalInvoicing.schema.json"])
def test_kongs_schemas_are_packaged(name: str) -> None:
    """The schemas ship as package data, found the way the runtime finds them."""
    packaged = resources.files("tui_billing.domain") / "schemas" / name
    assert json.loads(packaged.read_text("utf-8"))["title"] == name.removesuffix(".schema.json")
