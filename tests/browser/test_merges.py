"""The merge review in the entity tab: the list `kg merges` shows, with accept/reject buttons."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def _pick(page: Page, label: str) -> None:
    page.locator("#kg-merge-id input").click()
    page.get_by_role("option", name=label).click()


def test_reject_then_accept_a_merge_records_the_decision(page: Page) -> None:
    page.get_by_role("tab", name="Graph").click()
    table = page.locator("#kg-merges table")
    expect(table).to_be_visible()
    first = table.locator("tr[data-merge]").first
    expect(first).to_be_visible()
    merge_id = first.get_attribute("data-merge")
    assert merge_id and merge_id.startswith("merge_")
    cells = first.locator("td")
    label = f"{cells.nth(3).inner_text().rsplit(' (', 1)[0]} ~ {cells.nth(4).inner_text()}"
    _pick(page, f"{label} ({cells.nth(1).inner_text()})")
    page.locator("#kg-merge-reject").click()
    expect(page.locator("#kg-merge-said")).to_contain_text("Rejected")
    row = page.locator(f"#kg-merges tr[data-merge='{merge_id}']")
    expect(row.locator("td").nth(2)).to_have_text("reject")
    page.locator("#kg-merge-accept").click()
    expect(page.locator("#kg-merge-said")).to_contain_text("Accepted")
    expect(row.locator("td").nth(2)).to_have_text("accept")
    # the decision lives in the workspace: a fresh page reads it back
    page.reload()
    page.get_by_role("tab", name="Graph").click()
    row = page.locator(f"#kg-merges tr[data-merge='{merge_id}']")
    expect(row.locator("td").nth(2)).to_have_text("accept")
