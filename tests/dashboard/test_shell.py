"""The page the app serves: only what the first paint needs."""

from __future__ import annotations

import json
import re
from typing import Any


def test_the_overview_page_leaves_the_grid_bundle_and_the_full_validation_layout_out(
        app: Any, dash_city: dict[str, Any]) -> None:
    client = app.server.test_client()
    overview = client.get("/").get_data(as_text=True)
    grid = client.get("/grid/420602001001001").get_data(as_text=True)
    assert not re.search(r'<script src="[^"]*dash_ag_grid', overview)
    lazy = re.search(r'<script type="application/json" id="cityscreen-lazy">(.*?)</script>',
                     overview)
    assert lazy and "dash_ag_grid" in json.loads(lazy.group(1))
    assert re.search(r'<script src="[^"]*dash_ag_grid', grid) and "cityscreen-lazy" not in grid
    config = json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)'
                                  r"</script>", overview, re.S).group(1))  # type: ignore[union-attr]
    slim = config["validation_layout"]["props"]["children"]
    assert all(set(c["props"]) == {"id"} for c in slim)
    ids = {json.dumps(c["props"]["id"], sort_keys=True) for c in slim}
    assert {'"map"', '"grid-cases"', '"_pages_location"'} <= ids
    assert len(overview) < 40_000  # the full validation layout made it ~155 KB
