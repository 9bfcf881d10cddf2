"""A certify run's results as a scorecard, a summary, JUnit XML and JSON."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ..domain.timefmt import rfc3339
from .engine import Result

MARKS = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}
EVIDENCE_LINES = {"passed": 2, "failed": 6, "skipped": 0}
"""Evidence lines shown under a check without --verbose."""


def scorecard_line(result: Result, *, verbose: bool = False) -> str:
    """One line per check, then its first pieces of evidence indented (``verbose``: all)."""
    line = f"{MARKS[result.status]}  {result.name:<36} {result.seconds:6.2f}s  {result.title}"
    if result.message:
        line += f"\n      {'why: ' if result.status == 'skipped' else '✗ '}{result.message}"
    if result.status == "failed":
        line += f"\n      production: {result.production}\n      why it matters: {result.why}"
    shown = result.evidence if verbose else result.evidence[: EVIDENCE_LINES[result.status]]
    line += "".join(f"\n      · {e}" for e in shown)
    return line


def summary(results: list[Result]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in MARKS}
    failed = [r.name for r in results if r.status == "failed"]
    text = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    return text + (f"\nfailed: {', '.join(failed)}" if failed else "\ncertified: every selected check passed")


def to_json(results: list[Result], *, url: str, partner_url: str, seed: int) -> dict[str, Any]:
    return {
        "api": url,
        "partner_url": partner_url,
        "finished_at": rfc3339(datetime.now(UTC)),
        "seed": seed,
        "passed": all(r.status != "failed" for r in results) and any(r.status == "passed" for r in results),
        "checks": [
            {
                "name": r.name,
                "suite": r.suite,
                "check": r.check,
                "title": r.title,
                "status": r.status,
                "seconds": round(r.seconds, 3),
                "message": r.message,
                "evidence": r.evidence,
                "production": r.production,
                "why": r.why,
            }
            for r in results
        ],
    }


def write_junit(results: list[Result], path: Path) -> None:
    """One ``testsuite`` per suite, one ``testcase`` per check (failure or skipped inside)."""
    root = ElementTree.Element("testsuites", name="tui-billing certify")
    for suite in dict.fromkeys(r.suite for r in results):
        mine = [r for r in results if r.suite == suite]
        element = ElementTree.SubElement(
            root,
            "testsuite",
            name=suite,
            tests=str(len(mine)),
            failures=str(sum(r.status == "failed" for r in mine)),
            skipped=str(sum(r.status == "skipped" for r in mine)),
            time=f"{sum(r.seconds for r in mine):.3f}",
        )
        for result in mine:
            case = ElementTree.SubElement(
                element,
                "testcase",
                classname=f"certify.{suite}",
                name=result.check,
                time=f"{result.seconds:.3f}",
            )
            if result.status == "failed":
                ElementTree.SubElement(case, "failure", message=result.message).text = "\n".join(
                    result.evidence
                )
            elif result.status == "skipped":
                ElementTree.SubElement(case, "skipped", message=result.message)
            ElementTree.SubElement(case, "system-out").text = (
                f"{result.title}\nproduction: {result.production}\nwhy: {result.why}\n"
                + "\n".join(result.evidence)
            )
    ElementTree.indent(root)
    path.write_text(
        ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n", encoding="utf-8"
    )


def dump_json(results: list[Result], *, url: str, partner_url: str, seed: int) -> str:
    return json.dumps(
        to_json(results, url=url, partner_url=partner_url, seed=seed), indent=2, ensure_ascii=False
    )
