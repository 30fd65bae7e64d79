"""Panel figures: an empty window says so instead of drawing bare axes."""

from __future__ import annotations

from dashboard.components import map_figure as mf
from dashboard.components import panels


def _annotations(fig: object) -> list[str]:
    return [a.text for a in fig.layout.annotations]  # type: ignore[attr-defined]


def test_category_chart_without_cases_says_no_data() -> None:
    fig = panels.category_chart({"categories": []}, "wall", "zh")
    assert _annotations(fig) == ["暂无数据"]
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    assert _annotations(panels.category_chart({"categories": []}, "desk", "en")) == ["No data"]


def test_category_chart_with_cases_draws_bars_only() -> None:
    tr = {"categories": [{"name": "市容环境", "name_en": "City appearance", "n": 12},
                         {"name": "街面秩序", "name_en": "Street order", "n": 5}]}
    fig = panels.category_chart(tr, "wall", "zh")
    assert _annotations(fig) == []
    assert list(fig.data[0].x) == [5, 12] and list(fig.data[0].y) == ["街面秩序", "市容环境"]


def test_choropleth_scale_top_is_the_largest_value_at_least_one() -> None:
    assert mf.z_max([0, 0, None]) == 1.0  # no case yet: 0…1, not Plotly's -0.5…0.5
    assert mf.z_max([3, None, 17.5]) == 17.5
