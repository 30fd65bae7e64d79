"""Gi* against PySAL on a lattice of real grid polygons, FDR by hand, emerging vs scipy."""

from __future__ import annotations

from datetime import timedelta

import esda
import libpysal
import numpy as np
import pytest
from scipy import stats

from dashboard.analysis import hotspots
from tests.analysis.conftest import (
    CITY,
    SIDE,
    WINDOW_END,
    WINDOW_START,
    grid_code,
    insert_counts,
    insert_lattice,
)

PLANTED = [grid_code(r, c) for r in (4, 5) for c in (6, 7)]


def _background(seed: int = 7) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    return {grid_code(r, c): int(rng.poisson(2)) for r in range(SIDE) for c in range(SIDE)}


def _lattice_w(rook: bool) -> libpysal.weights.W:
    """PySAL's own lattice weights, relabelled with our grid codes (lat2W is row-major)."""
    w = libpysal.weights.lat2W(SIDE, SIDE, rook=rook)
    ids = {i: grid_code(i // SIDE, i % SIDE) for i in range(SIDE * SIDE)}
    return libpysal.weights.W({ids[i]: [ids[j] for j in w.neighbors[i]] for i in w.neighbors},
                              id_order=[ids[i] for i in range(SIDE * SIDE)])


@pytest.mark.parametrize("rule", ["queen", "rook"])
def test_neighbours_from_shared_borders_match_pysal_lattice(conn, lattice, rule):
    layer = hotspots.grid_layer(conn, CITY, rule)
    expected = _lattice_w(rook=rule == "rook")
    assert layer.codes == tuple(sorted(lattice))
    for code in lattice:
        assert set(layer.neighbours[code]) == set(expected.neighbors[code]), code
    corner = grid_code(0, 0)
    assert len(layer.neighbours[corner]) == (2 if rule == "rook" else 3)


def test_gi_star_equals_pysal_and_finds_planted_hotspot(conn, lattice):
    counts = _background()
    for code in PLANTED:
        counts[code] += 15
    insert_counts(conn, counts, WINDOW_START + timedelta(hours=1))
    result = hotspots.gi_star(conn, WINDOW_START, WINDOW_END, unit=CITY)

    y = np.array([counts[c] for c in lattice], dtype=float)
    ref = esda.G_Local(y, _lattice_w(rook=False), transform="B", star=True, permutations=0)
    by_code = {r["grid_code"]: r for r in result["items"]}
    ours = np.array([by_code[c]["z"] for c in lattice])
    np.testing.assert_allclose(ours, ref.Zs, atol=1e-4)

    top4 = [r["grid_code"] for r in result["items"][:4]]
    assert set(top4) == set(PLANTED)
    assert all(by_code[c]["kind"] == "hot" for c in PLANTED)
    assert result["n_hot"] >= 4
    hot_rows = hotspots.significant(result)
    assert hot_rows[0]["name"].startswith("网格") and hot_rows[0]["lon"] is not None
    first = by_code[PLANTED[0]]
    assert first["count"] == counts[PLANTED[0]]
    assert first["local_sum"] == counts[PLANTED[0]] + sum(
        counts[c] for c in _lattice_w(False).neighbors[PLANTED[0]])
    assert first["p"] == pytest.approx(2 * stats.norm.sf(abs(ref.Zs[lattice.index(PLANTED[0])])),
                                       rel=1e-3)


def test_gi_star_permutation_pvalues_follow_pysal(conn, lattice):
    counts = _background(3)
    for code in PLANTED:
        counts[code] += 12
    insert_counts(conn, counts, WINDOW_START)
    result = hotspots.gi_star(conn, WINDOW_START, WINDOW_END, unit=CITY, permutations=99,
                              seed=5)
    y = np.array([counts[c] for c in lattice], dtype=float)
    ref = esda.G_Local(y, _lattice_w(False), transform="B", star=True, permutations=99, seed=5)
    by_code = {r["grid_code"]: r for r in result["items"]}
    np.testing.assert_allclose([by_code[c]["p"] for c in lattice],
                               np.minimum(1, 2 * ref.p_sim), atol=1e-12)


def test_no_hotspot_in_flat_or_empty_data(conn, lattice):
    empty = hotspots.gi_star(conn, WINDOW_START, WINDOW_END, unit=CITY)
    assert empty["n_hot"] == 0 and empty["n_grids"] == SIDE * SIDE
    insert_counts(conn, dict.fromkeys(lattice, 3), WINDOW_START)
    flat = hotspots.gi_star(conn, WINDOW_START, WINDOW_END, unit=CITY)
    assert flat["n_hot"] == 0 and flat["n_cold"] == 0


def test_category_and_window_filter_the_counts(conn, lattice):
    insert_counts(conn, {lattice[0]: 5}, WINDOW_START, category="0703")
    insert_counts(conn, {lattice[0]: 7}, WINDOW_START, category="0101")
    insert_counts(conn, {lattice[0]: 100}, WINDOW_END)           # the end is exclusive
    insert_counts(conn, {lattice[1]: 9}, WINDOW_START - timedelta(hours=1))
    assert hotspots.window_counts(conn, WINDOW_START, WINDOW_END, unit=CITY) == {lattice[0]: 12}
    assert hotspots.window_counts(conn, WINDOW_START, WINDOW_END, unit=CITY,
                                  category="0703") == {lattice[0]: 5}
    with conn.cursor() as cur:   # a major class matches its subitems through the taxonomy
        cur.execute("SELECT 1 FROM category WHERE code = '07'")
        if cur.fetchone() is None:
            cur.execute("INSERT INTO category (code, name) VALUES ('07', '测试大类')")
        cur.execute("INSERT INTO category (code, parent, name) VALUES ('0703', '07', '测试')"
                    " ON CONFLICT (code) DO UPDATE SET parent = '07'")
    assert hotspots.window_counts(conn, WINDOW_START, WINDOW_END, unit=CITY,
                                  category="07") == {lattice[0]: 5}
    with pytest.raises(ValueError):
        hotspots.window_counts(conn, WINDOW_START, WINDOW_END, category="07'; drop")


def test_layer_cache_sees_redrawn_grids(conn, lattice):
    first = hotspots.grid_layer(conn, CITY)
    assert hotspots.grid_layer(conn, CITY) is first
    with conn.cursor() as cur:   # move the last column away: it no longer touches column 8
        cur.execute("UPDATE admin_unit SET geom = ST_Translate(geom, 1, 0)"
                    " WHERE level = 'grid' AND code LIKE %s"
                    " AND (right(code, 3)::int - 1) %% 10 = 9",
                    ("9901%",))
    second = hotspots.grid_layer(conn, CITY)
    assert second is not first
    assert grid_code(0, 8) not in second.neighbours[grid_code(0, 9)]


# ------------------------------------------------------------------ FDR


def test_bh_qvalues_against_hand_computed_case():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    # sorted: .005 .01 .03 .04 .2 → p·m/i: .025 .025 .05 .05 .2 → running min from the top
    q = hotspots.bh_qvalues(p)
    np.testing.assert_allclose(q, [0.025, 0.05, 0.05, 0.025, 0.2])
    assert list(q <= 0.05) == [True, True, True, True, False]
    assert list(q <= 0.03) == [True, False, False, True, False]
    # esda's cut-off rejects the same set (it uses a strict inequality at the boundary)
    cut = hotspots.fdr_cutoff(p, 0.03)
    assert cut == pytest.approx(0.012)
    assert list(np.array(p) < cut) == list(q <= 0.03)


def test_bh_qvalues_monotone_and_bounded():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=500)
    q = hotspots.bh_qvalues(p)
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= -1e-15)
    assert np.all(q >= p) and np.all(q <= 1)
    assert hotspots.bh_qvalues([]).size == 0


# ------------------------------------------------------------------ emerging


def test_poisson_surprise_matches_scipy():
    x = np.array([0, 1, 3, 10, 25])
    lam = np.array([0.5, 0.5, 2.0, 2.5, 3.0])
    p, score = hotspots.poisson_surprise(x, lam)
    expected = [1.0] + [stats.poisson.sf(k - 1, m) for k, m in zip(x[1:], lam[1:], strict=True)]
    np.testing.assert_allclose(p, expected, rtol=1e-10)
    np.testing.assert_allclose(score, -np.log10(expected), rtol=1e-8)
    # P(X >= 10 | 2.5) by the definition
    assert p[3] == pytest.approx(1 - sum(stats.poisson.pmf(k, 2.5) for k in range(10)))


def test_emerging_hotspot_against_its_own_baseline(conn, lattice):
    busy, newcomer, steady = lattice[11], lattice[55], lattice[77]
    rest = {c: 3 for c in lattice if c not in (busy, newcomer, steady)}   # 97 ordinary grids
    for week in range(1, 5):
        hour = WINDOW_START - timedelta(days=7 * week) + timedelta(hours=1)
        insert_counts(conn, {busy: 2, steady: 10, **rest}, hour)
    insert_counts(conn, rest, WINDOW_START)
    insert_counts(conn, {lattice[99]: 1}, WINDOW_START - timedelta(days=40))  # history start
    # noise outside the baseline hours must not count
    insert_counts(conn, {newcomer: 50}, WINDOW_START - timedelta(days=7, hours=6))
    insert_counts(conn, {busy: 14, newcomer: 9, steady: 11}, WINDOW_START + timedelta(hours=2))

    result = hotspots.emerging_hotspots(conn, WINDOW_START, WINDOW_END, unit=CITY,
                                        model="poisson", prior=1.0, adjust=False)
    by_code = {r["grid_code"]: r for r in result["items"]}
    assert result["params"]["weeks"] == 4
    assert by_code[busy]["baseline"] == 2.0
    assert by_code[steady]["baseline"] == 10.0
    assert by_code[newcomer]["baseline"] == 0.0
    # expected = (B + prior·m) / (weeks + prior), m = the mean baseline per grid and week
    m = (8 + 40 + 97 * 12) / 100 / 4
    assert by_code[busy]["expected"] == pytest.approx((8 + m) / 5, abs=1e-3)
    assert by_code[newcomer]["expected"] == pytest.approx(m / 5, abs=1e-3)
    lam = (8 + m) / 5
    assert by_code[busy]["p"] == pytest.approx(stats.poisson.sf(13, lam), rel=1e-9)
    assert by_code[busy]["score"] == pytest.approx(-np.log10(stats.poisson.sf(13, lam)), 1e-3)
    flagged = {r["grid_code"] for r in hotspots.significant(result)}
    assert flagged == {busy, newcomer}
    assert by_code[steady]["kind"] is None
    assert result["items"][0]["grid_code"] in flagged
    assert "前 4 周同期" in by_code[busy]["why"]
    # q-values are BH over every grid in scope
    np.testing.assert_allclose([by_code[c]["q"] for c in lattice],
                               hotspots.bh_qvalues([by_code[c]["p"] for c in lattice]))

    # the default: Gamma–Poisson predictive (negative binomial), scaled by the scope's change
    nb = hotspots.emerging_hotspots(conn, WINDOW_START, WINDOW_END, unit=CITY)
    by_code = {r["grid_code"]: r for r in nb["items"]}
    prior, periods = 0.5, 4.5
    shape = 8 + prior * m
    factor = (14 + 9 + 11 + 97 * 3) / ((8 + 40 + 97 * 12 + prior * m * 100) / periods)
    assert nb["params"]["scope_factor"] == pytest.approx(factor, abs=1e-4)
    prob = (periods / factor) / (periods / factor + 1)
    assert by_code[busy]["p"] == pytest.approx(stats.nbinom.sf(13, shape, prob), rel=1e-9)
    assert by_code[busy]["expected"] == pytest.approx(shape / periods * factor, abs=1e-3)
    assert {r["grid_code"] for r in hotspots.significant(nb)} == {busy, newcomer}


def test_negbin_surprise_is_wider_than_poisson_with_little_history():
    # the same expected 10 from one baseline week or from forty: one week is less sure
    p_one, _ = hotspots.negbin_surprise([20], [10.0], [1.0])
    p_forty, _ = hotspots.negbin_surprise([20], [400.0], [40.0])
    p_pois, _ = hotspots.poisson_surprise([20], [10.0])
    assert p_one[0] > p_forty[0] > p_pois[0]
    assert p_forty[0] == pytest.approx(stats.nbinom.sf(19, 400, 40 / 41), rel=1e-12)


def test_emerging_uses_only_weeks_with_history(conn, lattice):
    grid = lattice[42]
    insert_counts(conn, {grid: 20}, WINDOW_START + timedelta(hours=1))
    none = hotspots.emerging_hotspots(conn, WINDOW_START, WINDOW_END, unit=CITY)
    assert none["params"]["weeks"] == 0 and none["n_emerging"] == 0
    # two weeks of history (the roll-up starts 15 days back): the mean is over two copies
    insert_counts(conn, {grid: 2}, WINDOW_START - timedelta(days=14))
    insert_counts(conn, {grid: 4}, WINDOW_START - timedelta(days=7))
    two = hotspots.emerging_hotspots(conn, WINDOW_START, WINDOW_END, unit=CITY, adjust=False)
    assert two["params"]["weeks"] == 2 and two["params"]["weeks_requested"] == 4
    row = next(r for r in two["items"] if r["grid_code"] == grid)
    assert row["baseline"] == 3.0 and row["kind"] == "emerging"


def test_baseline_shift_is_whole_weeks_at_least_the_window():
    assert hotspots.baseline_period(WINDOW_START, WINDOW_END) == timedelta(days=7)
    assert hotspots.baseline_period(WINDOW_START, WINDOW_START + timedelta(days=8)) == \
        timedelta(days=14)


def test_small_lattice_island(conn):
    hotspots.LAYERS.clear()
    codes = insert_lattice(conn, side=3)
    with conn.cursor() as cur:
        cur.execute("UPDATE admin_unit SET geom = ST_Translate(geom, 5, 5) WHERE code = %s",
                    (codes[4],))
    layer = hotspots.grid_layer(conn, CITY)
    assert layer.islands == [codes[4]]
    assert layer.weights().n == 9


def test_rook_neighbours_across_a_t_junction(conn):
    """A big grid beside two small ones shares a line with both, with no common vertex pair."""
    hotspots.LAYERS.clear()
    codes = insert_lattice(conn, side=1)          # the city chain plus one grid we replace
    boxes = {codes[0]: (0, 0, 2, 2), codes[0][:-3] + "002": (2, 0, 3, 1),
             codes[0][:-3] + "003": (2, 1, 3, 2)}
    with conn.cursor() as cur:
        for code, (x0, y0, x1, y1) in boxes.items():
            cur.execute("INSERT INTO admin_unit (code, level, parent_code, name, geom)"
                        " VALUES (%s, 'grid', %s, 'T', ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s,"
                        " 4326))) ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom",
                        (code, code[:12], 80 + x0 * 0.01, 40 + y0 * 0.01, 80 + x1 * 0.01,
                         40 + y1 * 0.01))
    big, low, high = boxes
    layer = hotspots.grid_layer(conn, CITY, "rook")
    assert set(layer.neighbours[big]) == {low, high}
    assert set(layer.neighbours[low]) == {big, high}
    hotspots.LAYERS.clear()


def test_vectorised_gi_star_equals_esda_on_irregular_weights():
    rng = np.random.default_rng(11)
    w = libpysal.weights.lat2W(7, 9, rook=True)
    # make it irregular: drop a few links and add long ones
    nb = {i: set(v) for i, v in w.neighbors.items()}
    for i, j in ((0, 1), (10, 11), (30, 39)):
        nb[i].discard(j)
        nb[j].discard(i)
    for i, j in ((5, 50), (20, 62)):
        nb[i].add(j)
        nb[j].add(i)
    codes = [f"c{i:02d}" for i in range(63)]
    neighbours = {codes[i]: tuple(codes[j] for j in sorted(v)) for i, v in nb.items()}
    a = [i for i, v in nb.items() for j in v] + list(range(63))
    b = [j for i, v in nb.items() for j in v] + list(range(63))
    from scipy import sparse
    star = sparse.csr_matrix((np.ones(len(a)), (a, b)), shape=(63, 63))
    layer = hotspots.GridLayer("%", "rook", "x", tuple(codes), neighbours, star)
    y = rng.negative_binomial(2, 0.3, 63).astype(float)
    ref = esda.G_Local(y, layer.weights(), transform="B", star=True, permutations=0)
    np.testing.assert_allclose(hotspots.gi_star_z(star, y), ref.Zs, rtol=1e-10)
