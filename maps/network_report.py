"""The radio and ODN sections of the report (issues 9 and 10), from a plan's optional parts.

:func:`network_context` turns :class:`maps.network.NetworkParts` into what the report template
``report_network.html.j2`` shows: the link-budget table, the coverage evaluation (headline shares at
the threshold, coverage by district, an RSRP distribution chart as inline SVG), the optical budget
table and the bill of quantities with the cost per home passed. A part the plan does not carry is
simply left out. Every value is text for Jinja's autoescape, except the chart, built and escaped by
:mod:`maps.charts`.
"""
from __future__ import annotations

from markupsafe import Markup

from maps.charts import svg_histogram
from maps.network import NetworkParts
from maps.tables import DASH, cny_text, finite, int_text, num_text, share_text

#: RSRP chart colours: a bin wholly below the threshold, one that straddles it, one at or above it.
RSRP_BELOW, RSRP_EDGE, RSRP_ABOVE = "#cb181d", "#fd8d3c", "#41ab5d"
CLUTTER_NAMES = {"dense_urban": "dense urban", "urban": "urban", "suburban": "suburban", "rural": "rural"}
BOQ_ITEMS = (("olt_sites_new", "OLT sites, new", "int"), ("olt_sites_upgraded", "OLT sites, upgraded", "int"),
             ("olt_chassis_new", "OLT chassis, new", "int"), ("olt_cards", "OLT line cards", "int"),
             ("ports", "10G-PON ports", "int"))
# the PON bill's fibre kinds as a planner reads them (an unknown kind shows its key); in-cell cabling is part of
# the distribution, and the backhaul row holds only the 5G sites carried on PON (ring and spur routes are 5G's)
FIBRE_LABELS = {"feeder": "fibre, feeder (OLT to cabinets)",
                "distribution": "fibre, distribution (cabinets to homes, in-cell cabling included)",
                "distribution_in_cell": "fibre, of which in-cell cabling",
                "backhaul": "fibre, 5G backhaul on PON (sites homed on an OLT)"}


def network_context(parts: NetworkParts) -> dict:
    """Template context of the radio and ODN sections (``network`` in ``report.html.j2``)."""
    return {
        "existing_modelled": parts.existing_modelled,
        "existing_source": parts.existing_source,
        "link_budget": link_budget_rows(parts.link_budget),
        "evaluation": evaluation_context(parts.evaluation),
        "optical_budget": optical_budget_rows(parts.optical_budget),
        "boq": boq_rows(parts.bill_of_quantities),
    }


def link_budget_rows(rows: list[dict]) -> list[list[str]]:
    """[type, band MHz, clutter, MAPL dB, radius m] per row of ``radio.link_budget``."""
    return [[str(r.get("type") or DASH), int_text(r.get("band_mhz")),
             CLUTTER_NAMES.get(str(r.get("clutter")), str(r.get("clutter") or DASH)),
             num_text(r.get("mapl_db"), 1), int_text(r.get("radius_m"))] for r in rows]


def optical_budget_rows(rows: list[dict]) -> list[list[str]]:
    """[split, class, budget dB, fixed loss dB, dB/km, max route km] per row of ``pon.optical_budget``."""
    return [[str(r.get("split") or DASH), str(r.get("class") or DASH), num_text(r.get("budget_db"), 1),
             num_text(r.get("loss_db_fixed"), 1), num_text(r.get("db_per_km"), 2),
             num_text(r.get("max_route_km"), 1)] for r in rows]


def evaluation_context(ev: dict | None) -> dict | None:
    """Headline shares, the by-district rows and the RSRP chart of ``coverage.evaluation``."""
    if not ev:
        return None
    thr = finite(ev.get("threshold_dbm"))
    by = [[str(d.get("district_id") or ""), str(d.get("name") or ""), int_text(d.get("points")),
           share_text(d.get("area_share")), share_text(d.get("population_share"))]
          for d in ev.get("by_district") or [] if isinstance(d, dict)]
    return {"threshold": threshold_text(thr), "points": int_text(ev.get("points")),
            "area_share": share_text(ev.get("area_share")), "population_share": share_text(ev.get("population_share")),
            "by_district": by, "chart": rsrp_chart(ev.get("rsrp_histogram") or [], thr)}


def threshold_text(thr: float | None) -> str:
    """'−95 dBm' (a true minus sign), or a dash."""
    return DASH if thr is None else f"{thr:,.0f} dBm".replace("-", "\u2212")


def rsrp_chart(hist: list, thr: float | None) -> dict | None:
    """The RSRP distribution as an inline-SVG histogram: population per bin (lattice points without population).

    A bin whose ``dbm_lo`` (``dbm_hi``) is missing or infinite is open below (above): plan.json stores an
    infinite bound as null.
    """
    bins = [(finite(h.get("dbm_lo")), finite(h.get("dbm_hi")), h) for h in hist if isinstance(h, dict)]
    bins = [b for b in bins if b[0] is not None or b[1] is not None]
    if not bins:
        return None
    pops = [finite(h.get("population")) or 0.0 for _, _, h in bins]
    by_pop = sum(pops) > 0
    counts = pops if by_pop else [finite(h.get("points")) or 0.0 for _, _, h in bins]
    labels, colours = [], []
    for lo, hi, _ in bins:
        text = f"< {hi:.0f}" if lo is None else f"\u2265 {lo:.0f}" if hi is None else f"{lo:.0f}\u2026{hi:.0f}"
        labels.append(text.replace("-", "\u2212"))
        below = hi is not None and thr is not None and hi <= thr
        above = thr is None or (lo is not None and lo >= thr)
        colours.append(RSRP_BELOW if below else RSRP_ABOVE if above else RSRP_EDGE)
    what = "people" if by_pop else "lattice points"
    svg = svg_histogram(counts, labels, title="Best-server RSRP distribution", xlabel="best-server RSRP (dBm)",
                        ylabel=what, colours=colours)
    note = (f"Green bins are at or above the coverage threshold ({threshold_text(thr)}), red below it"
            f"{', orange across it' if RSRP_EDGE in colours else ''}."
            if thr is not None else "No threshold was recorded with the evaluation.")
    return {"title": f"Best-server RSRP: {what} per bin", "svg": Markup(svg), "note": note}


def boq_rows(boq: dict | None) -> dict | None:
    """Rows (item, quantity) of ``pon.bill_of_quantities``, and the cost per home passed."""
    if not boq:
        return None
    rows = [(label, int_text(boq.get(key))) for key, label, _ in BOQ_ITEMS if key in boq]
    splitters = boq.get("splitters") if isinstance(boq.get("splitters"), dict) else {}
    rows += [(f"splitters {ratio}", int_text(n)) for ratio, n in splitters.items()]
    fibre = boq.get("fibre_km") if isinstance(boq.get("fibre_km"), dict) else {}
    rows += [(FIBRE_LABELS.get(kind, f"fibre, {kind}"), f"{num_text(km, 1)} km") for kind, km in fibre.items()]
    if "trench_km" in boq:
        rows.append(("trench", f"{num_text(boq.get('trench_km'), 1)} km"))
    if "homes_passed" in boq:
        rows.append(("homes passed", int_text(boq.get("homes_passed"))))
    if "lines" in boq:
        rows.append(("lines connected (ONTs)", int_text(boq.get("lines"))))
    known = {k for k, _, _ in BOQ_ITEMS} | {"splitters", "fibre_km", "trench_km", "homes_passed",
                                             "cost_per_home_passed_cny", "lines", "cost_per_line_cny"}
    rows += [(str(k).replace("_", " "), _value_text(k, v)) for k, v in boq.items() if k not in known]
    return {"rows": rows, "cost_per_home_passed": cny_text(boq.get("cost_per_home_passed_cny"), exact=True),
            "homes_passed": int_text(boq.get("homes_passed"))}


def _value_text(key: str, v) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{a}: {_value_text(str(a), b)}" for a, b in v.items())
    x = finite(v) if not isinstance(v, bool) else None
    if x is None:
        return str(v) if v is not None else DASH
    return cny_text(x, exact=True) if str(key).endswith("_cny") else f"{x:,.1f}" if not x.is_integer() else f"{x:,.0f}"
