"""The operations served, as docs/api-operations.md lists them: rendered from the route table.

``python -m tui_billing.api.operations > docs/api-operations.md`` rewrites the page; a test
fails when the page and the table differ.
"""

from .server import ROUTES, V3_BASES


def markdown() -> str:
    """The page: one table row per operation (method, path, summary, API)."""
    rows = [
        f"| {route.method} | `{route.bases[0] + route.path}` | {route.summary} | {route.api} |"
        for route in ROUTES
    ]
    return "\n".join(
        [
            "# Operations served",
            "",
            "Generated from the API's route table (`tui_billing/api/server.py`, `ROUTES`) by",
            "`python -m tui_billing.api.operations > docs/api-operations.md`; do not edit by hand.",
            f"v3 operations are served under `{V3_BASES[0]}` and under `{V3_BASES[1]}`"
            " (Konnect's URL shape).",
            "",
            "| method | path | summary | API |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    print(markdown(), end="")
