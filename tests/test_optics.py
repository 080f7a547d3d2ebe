"""The XGS-PON optical budget against hand calculations and its own inverse."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.errors import ScenarioError
from rollout.optics import (DEFAULT_LOSSES, DEFAULT_SPLITS, XGS_PON_CLASSES, OdnLosses, Split, check_split,
                            loss_db_fixed, max_route_km, optical_budget_table, optics_class, path_loss_db,
                            splitter_loss_db, within_budget)


def test_classes_are_the_g9807_1_budgets():
    assert {c: XGS_PON_CLASSES[c].budget_db for c in XGS_PON_CLASSES} == {"N1": 29.0, "N2": 31.0, "E1": 33.0,
                                                                           "E2": 35.0}
    assert optics_class("n2") is XGS_PON_CLASSES["N2"]
    with pytest.raises(ScenarioError, match="N1, N2, E1, E2"):
        optics_class("B+")


def test_1_64_with_n2_at_20_km_by_hand():
    # splitter 21.0 + 4 connector pairs x 0.5 + 4 splices x 0.1 + margin 2.0 = 25.4 dB before fibre;
    # 20 km x (0.35 fibre + 0.5 splices/km x 0.1) = 8.0 dB; total 33.4 dB
    assert loss_db_fixed("1:64") == pytest.approx(21.0 + 2.0 + 0.4 + 2.0)
    assert DEFAULT_LOSSES.db_per_km == pytest.approx(0.40)
    assert path_loss_db(20.0, "1:64") == pytest.approx(33.4)
    assert not within_budget(20.0, "1:64", "N2")       # 33.4 > 31
    assert within_budget(20.0, "1:64", "E2")           # 33.4 <= 35
    assert max_route_km("1:64", "N2") == pytest.approx((31.0 - 25.4) / 0.40)   # 14.0 km


def test_two_stage_losses_add():
    # 1:8 x 1:8: two splitters and one more pair of connectors than a single 1:64
    assert loss_db_fixed("1:8x1:8") == pytest.approx(10.7 + 10.7 + (2 + 2 * 2) * 0.5 + 0.4 + 2.0)
    assert loss_db_fixed("1:8x1:8") - loss_db_fixed("1:64") == pytest.approx(2 * 10.7 - 21.0 + 2 * 0.5)
    assert path_loss_db(10.0, "1:8x1:8") == pytest.approx(26.8 + 4.0)


def test_path_loss_is_vectorised():
    km = np.array([0.0, 5.0, 10.0])
    np.testing.assert_allclose(path_loss_db(km, "1:32"), loss_db_fixed("1:32") + 0.40 * km)
    np.testing.assert_array_equal(within_budget(np.array([17.0, 18.0]), "1:32", "N1"), [True, False])


@settings(max_examples=200, deadline=None)
@given(split=st.sampled_from(DEFAULT_SPLITS), cls=st.sampled_from(tuple(XGS_PON_CLASSES)),
       fibre=st.floats(0.2, 0.6), splices_per_km=st.floats(0, 2), margin=st.floats(0, 4),
       connector=st.floats(0, 0.8))
def test_max_route_round_trip(split, cls, fibre, splices_per_km, margin, connector):
    losses = OdnLosses(fibre_db_per_km=fibre, splices_per_km=splices_per_km, margin_db=margin,
                       connector_db=connector)
    reach_km = max_route_km(split, cls, losses=losses)
    budget_db = XGS_PON_CLASSES[cls].budget_db
    if reach_km > 0:
        assert path_loss_db(reach_km, split, losses=losses) == pytest.approx(budget_db)
        assert within_budget(reach_km, split, cls, losses=losses)
        assert not within_budget(reach_km + 0.001, split, cls, losses=losses)
    else:
        assert loss_db_fixed(split, losses=losses) >= budget_db


def test_budget_table_rows():
    rows = optical_budget_table()
    assert len(rows) == len(DEFAULT_SPLITS) * len(XGS_PON_CLASSES)
    assert all(set(r) == {"split", "class", "budget_db", "loss_db_fixed", "db_per_km", "max_route_km"} for r in rows)
    by_key = {(r["split"], r["class"]): r for r in rows}
    assert by_key["1:64", "N2"]["max_route_km"] == 14.0
    assert by_key["1:8x1:8", "E1"]["max_route_km"] == 15.5
    assert by_key["1:8x1:16", "N1"]["max_route_km"] == 0.0     # 30.1 dB fixed > 29 dB
    for r in rows:   # the listed reach is never more than the budget allows
        assert path_loss_db(r["max_route_km"], r["split"]) <= r["budget_db"] + 1e-9 or r["max_route_km"] == 0
        # more loss before the fibre, less reach; a bigger budget, more reach
    for cls in XGS_PON_CLASSES:
        reach = [by_key[s, cls]["max_route_km"] for s in ("1:16", "1:32", "1:64", "1:128")]
        assert reach == sorted(reach, reverse=True)


def test_split_beyond_every_budget_is_one_line_error():
    with pytest.raises(ScenarioError) as err:
        optical_budget_table(["1:64", "1:8x1:8x1:8"])
    msg = str(err.value)
    assert "\n" not in msg and "1:8x1:8x1:8" in msg and "35.0 dB" in msg and "E2" in msg
    assert err.value.exit_code == 2
    # the budget named is the largest of the classes offered
    with pytest.raises(ScenarioError, match=r"N2, 31\.0 dB"):
        check_split("1:8x1:16", ["N1", "N2"], losses=OdnLosses(margin_db=3.0))
    assert check_split("1:8x1:8") == Split((8, 8))


@pytest.mark.parametrize("text", ["1:8x1:8", "8x8", "1:8 x 1:8", "1:8*1:8", "1:8×1:8"])
def test_split_parse(text):
    s = Split.parse(text)
    assert s == Split.parse((8, 8)) and s.ratio == 64 and s.label == "1:8x1:8"
    assert Split.parse(64) == Split.parse("1:64")


@pytest.mark.parametrize("bad", ["1:", "one:64", "1:64x", "1:1", ""])
def test_split_parse_errors(bad):
    with pytest.raises(ScenarioError):
        Split.parse(bad)


def test_unknown_ratio_and_unphysical_losses():
    with pytest.raises(ScenarioError, match="1:3 has no loss figure"):
        loss_db_fixed("1:3")
    with pytest.raises(ScenarioError, match="below the ideal split loss"):
        OdnLosses(splitter_db={64: 17.0})
    with pytest.raises(ScenarioError, match="fibre_db_per_km"):
        OdnLosses(fibre_db_per_km=0.0)
    with pytest.raises(ScenarioError, match="margin_db"):
        OdnLosses(margin_db=-1.0)
    with pytest.raises(ScenarioError, match="route_km"):
        path_loss_db(-1.0, "1:32")


def test_default_splitters_include_excess_loss():
    for n, db in DEFAULT_LOSSES.splitter_db:
        excess = db - 10 * math.log10(n)
        assert 0.5 <= excess <= 3.5, (n, excess)
    dbs = [db for _, db in DEFAULT_LOSSES.splitter_db]
    assert dbs == sorted(dbs)
    assert splitter_loss_db(32) == 17.5
    # the losses object is hashable and equal by value, so it can sit in a frozen scenario
    assert hash(OdnLosses()) == hash(DEFAULT_LOSSES) and OdnLosses() == DEFAULT_LOSSES


def test_sources_table_matches_the_code():
    from pathlib import Path
    text = Path(__file__).resolve().parents[1].joinpath("seeds", "SOURCES.md").read_text(encoding="utf-8")
    section = text[text.index("Default `pon.optical_budget`"):]
    listed = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| 1:"):
            listed[cells[0]] = [float(c) for c in cells[1:]]
    rows = optical_budget_table()
    assert set(listed) == set(DEFAULT_SPLITS)
    for r in rows:
        col = 1 + tuple(XGS_PON_CLASSES).index(r["class"])
        assert listed[r["split"]][0] == pytest.approx(r["loss_db_fixed"])
        assert listed[r["split"]][col] == pytest.approx(r["max_route_km"])
