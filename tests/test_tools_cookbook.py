"""cookbook/tools_tour.lua runs offline through the real CLI and shows real results."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tools_tour(cli):
    r = cli("run", str(ROOT / "cookbook" / "tools_tour.lua"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for line in ("  total: 37 tools", "  total with tax: 60", "  snake_case: monthly_sales_report",
                 "  deterministic workflow id: 3f97026a-e9c3-5d50-b0f6-e7148f97a65f",
                 "  base64(llmspell) = bGxtc3BlbGw=", "  2024-02-27 + 3 days = 2024-03-01",
                 "  jq sum of order totals: 100", "  validation: valid=false, 2 errors",
                 "  template: Hello Ada, you have 3 tasks", "  file_search: line 2: TODO: beta",
                 "  read outside the sandbox -> Security violation",
                 "  unknown tool -> Tool 'no_such_tool' not found"):
        assert line in out, line
    tour_dir = next(line for line in out.splitlines() if line.startswith("cleaned up "))[11:]
    assert tour_dir.startswith("/tmp/llmspell-tools-tour-")
    assert not Path(tour_dir).exists()  # the script cleaned up after itself
