"""maps.report: the self-contained HTML report of a saved plan."""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as hst

import maps.report as mr
from gis.errors import InputError
from tests._plan_fixture import HOSTILE, HOSTILE_PLAIN, HOSTILE_TITLE, HOSTILE_ZH, make_plan, save_plan


class Page(HTMLParser):
    """Text per element id / section, tags seen, and resource URLs."""

    def __init__(self):
        super().__init__()
        self.tags, self.urls, self.text, self.sections, self._section = [], [], [], {}, None
        self.tables = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        for key in ("src", "href", "data"):
            if a.get(key) and tag in ("script", "link", "img", "iframe", "object", "embed"):
                self.urls.append(a[key])
        if tag == "section":
            self._section = a.get("id")
            self.sections[self._section] = []

    def handle_data(self, data):
        self.text.append(data)
        if self._section:
            self.sections[self._section].append(data)

    def section(self, name) -> str:
        return " ".join(" ".join(self.sections.get(name, [])).split())


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_plan(tmp_path_factory.mktemp("plan"))


@pytest.fixture(scope="module")
def report(saved):
    out = mr.write_report(saved)
    return out, out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def saved_plain(tmp_path_factory):
    """A plan without the optional radio/ODN parts (as plans were before issues 9 and 10)."""
    return save_plan(tmp_path_factory.mktemp("plain"), network=False)


@pytest.fixture(scope="module")
def plain_report(saved_plain):
    out = mr.write_report(saved_plain)
    return out, out.read_text(encoding="utf-8")


def test_report_figures_match_the_plan(saved_plain, plain_report):
    from rollout.plan import load_plan

    out, html = plain_report
    saved = saved_plain
    assert out == saved / "report.html"
    plan = load_plan(saved)
    page = parse(html)
    kpis = page.section("kpis")
    n = int(plan.stations["count"].sum())
    n_new = int(plan.stations.loc[plan.stations["new"], "count"].sum())
    assert f"5G stations {n:,}" in kpis
    assert f"{n_new:,} new" in kpis and f"{n - n_new:,} existing" in kpis
    assert f"10G-PON ports {int(plan.olt_sites['ports'].sum()):,}" in kpis
    assert f"OLT sites {len(plan.olt_sites):,}" in kpis
    assert f"fibre {plan.links['route_km'].sum():,.0f} km" in kpis
    assert mr.cny_text(plan.totals["capex_cny"]) in kpis
    assert "cost per household passed" in kpis
    k = mr.plan_kpis(plan)
    covered = plan.demand["covered"].to_numpy()
    pop = plan.demand["population"].to_numpy()
    assert k["population_covered_share"] == pytest.approx(pop[covered].sum() / pop.sum())
    hp = plan.demand.loc[plan.demand["olt_id"].notna(), "households"].sum()
    pon = plan.olt_sites["capex_cny"].sum() + plan.links.loc[plan.links["kind"] == "feeder", "capex_cny"].sum()
    assert k["cost_per_household_passed_cny"] == pytest.approx(pon / hp)
    assert 0 < k["area_covered_share"] < 1
    # one table row per district, plus the total
    districts = page.section("districts")
    for name in ("Chengyang", "Huangdao", "Jimo"):
        assert name in districts
    assert districts.count("3702") == len(plan.districts)
    # no radio / ODN parts: none of their sections, the old definitions
    assert "radio" not in page.sections and "odn" not in page.sections
    assert "modelled-existing" not in html
    assert "demand cells with a station within their planning radius" in page.section("sources")


def test_charts_are_inline_svg(report):
    html = report[1]
    charts = re.findall(r"<svg class=\"chart\".*?</svg>", html, re.S)
    assert len(charts) == 4   # capex, stations per km2, utilisation, RSRP distribution
    for svg in charts:
        ET.fromstring(svg)  # well-formed XML, so every label was escaped
    assert "Capex by district and type" in html and "utilisation" in html.lower()


def test_modelled_demand_note_and_sources(report):
    page = parse(report[1])
    assert 'id="modelled-demand"' in report[1]
    sources = page.section("sources")
    assert "modelled (census district totals" in sources
    assert "data.existing_sites sites_<b>.csv" in sources  # shown as text
    assert "data.boundaries (default)" in sources
    assert "radio.macro.capex_cny 400,000 CNY" in sources


def test_solver_block_is_honest(report):
    solver = parse(report[1]).section("solver")
    assert re.search(r"5g cbc optimal ", solver)
    assert "pon cbc feasible, gap 1.23%" in solver
    assert "optimal" not in solver.split("pon cbc")[1].split("1.23%")[0]
    assert "3,000 variables (2,500 integer)" in solver
    assert "Joint vs sequential" in solver
    # saving = 4% of the joint capex, 3.85% of the sequential one
    assert "(3.85%)" in solver


def test_status_text():
    assert mr.status_text("optimal", 0.0) == "optimal"
    assert mr.status_text("feasible", 0.0123) == "feasible, gap 1.23%"
    assert mr.status_text("feasible", None) == "feasible, gap unknown"
    assert mr.status_text("infeasible", None) == "infeasible"
    assert mr.status_text("no_solution", None) == "no solution found"
    assert "optimal" not in mr.status_text("Not Solved", None).replace("not proven optimal", "")


def test_per_year_table(report):
    years = parse(report[1]).section("years")
    assert "stations new" in years and "capex (CNY)" in years
    assert "2026" in years and "2028" in years


def test_hostile_strings_escaped(report):
    html = report[1]
    for bad in (HOSTILE, HOSTILE_PLAIN, "<script>window.__xss", "<i>with</i>"):
        assert bad not in html
    page = parse(html)
    assert "script" not in page.tags and "img" not in page.tags and "i" not in page.tags
    text = " ".join(page.text)
    assert HOSTILE_TITLE in text and HOSTILE_PLAIN in text and HOSTILE_ZH in text and HOSTILE in text
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp.replace("&#39;", "'") and "script-src" not in csp


def test_self_contained(report, saved):
    page = parse(report[1])
    assert set(page.urls) <= {"map.html"}  # at most the frame of the map beside it
    assert "http://" not in report[1].replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in report[1]


def test_map_is_linked_and_framed_when_present(tmp_path):
    d = save_plan(tmp_path / "p", n_stations=12, n_cells=6, seed=2)
    html = mr.write_report(d).read_text(encoding="utf-8")
    assert '<a href="map.html">' in html and "<iframe" not in html
    (d / "map.html").write_text("<html></html>", encoding="utf-8")
    html = mr.write_report(d).read_text(encoding="utf-8")
    assert '<iframe class="mapframe screen-only" src="map.html"' in html


def test_plain_plan_without_years_extra_or_model(tmp_path):
    plan = make_plan(12, 6, seed=5, years=False, hostile=False)
    plan.demand_source = "raster: worldpop_2020.tif"
    plan.extra = {}
    plan.solves = []
    d = plan.save(tmp_path / "p")
    html = mr.write_report(d).read_text(encoding="utf-8")
    page = parse(html)
    assert "modelled-demand" not in html
    assert "years" not in page.sections
    assert "Joint vs sequential" not in html
    assert "No solver statistics" in html


def test_joint_vs_sequential_shapes():
    j = mr.joint_vs_sequential({"joint_vs_sequential": {"joint_capex_cny": 100.0, "sequential_capex_cny": 110.0}})
    assert j["saving_cny"] == 10.0 and j["saving_share"] == pytest.approx(10 / 110)
    j = mr.joint_vs_sequential({"sequential_capex_cny": 120.0, "joint_capex_cny": 100.0, "saving_cny": 20.0})
    assert j["saving_cny"] == 20.0
    assert mr.joint_vs_sequential({"model_sizes": {"5g": 10}}) is None
    assert mr.joint_vs_sequential(None) is None


def test_svg_helpers_escape_and_scale():
    svg = mr.svg_hbar_chart([HOSTILE, "b"], [("x<y", [1.0, 3.0], "#000"), ("z", [2.0, float("nan")], "#111")],
                            title="t&t")
    root = ET.fromstring(str(svg))
    texts = " ".join("".join(e.itertext()) for e in root.iter() if e.tag.endswith("text"))
    assert "x<y" in texts and HOSTILE[:20] in texts
    svg = mr.svg_histogram([0, 5, 2], ["a", "b", "<c>"], title="h")
    ET.fromstring(str(svg))


def test_bad_plan_dir(tmp_path):
    with pytest.raises(InputError, match="plan.json"):
        mr.write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


# ---------------------------------------------------------------------- radio and ODN parts (issues 9, 10)
def table_rows(html: str, css_class: str) -> list[list[str]]:
    """Body rows of the table with ``css_class``, as lists of cell texts."""
    from html import unescape

    body = re.search(r'<table class="[^"]*\b%s\b[^"]*">.*?<tbody>(.*?)</tbody>' % css_class, html, re.S)
    assert body, css_class
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [[" ".join(unescape(re.sub("<[^>]+>", " ", c)).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in rows]


def test_headline_coverage_is_the_evaluation(saved, report):
    from rollout.plan import load_plan

    plan = load_plan(saved)
    ev = plan.coverage["evaluation"]
    k = mr.plan_kpis(plan)
    assert k["coverage_source"] == "evaluation"
    assert k["population_covered_share"] == ev["population_share"]
    assert k["area_covered_share"] == ev["area_share"]
    # not the demand cells' 'covered' column, which says something else in this fixture
    cells = plan.demand["population"][plan.demand["covered"]].sum() / plan.demand["population"].sum()
    assert abs(cells - ev["population_share"]) > 0.001
    kpis = parse(report[1]).section("kpis")
    assert f"population covered (\u2265 \u221295 dBm) {mr.share_text(ev['population_share'])}" in kpis
    assert f"area covered (\u2265 \u221295 dBm) {mr.share_text(ev['area_share'])}" in kpis
    assert f"best-server RSRP on {ev['points']:,} lattice points" in kpis
    assert "best-server RSRP at or above the threshold" in parse(report[1]).section("sources")


def test_link_budget_and_coverage_tables(saved, report):
    from rollout.plan import load_plan_summary

    html = report[1]
    s = load_plan_summary(saved)
    budget = table_rows(html, "link-budget")
    assert len(budget) == len(s["radio"]["link_budget"])
    for row, want in zip(budget, s["radio"]["link_budget"], strict=True):
        assert row == [want["type"], f"{want['band_mhz']:,.0f}", want["clutter"].replace("_", " "),
                       f"{want['mapl_db']:.1f}", f"{want['radius_m']:,.0f}"]
    ev = s["coverage"]["evaluation"]
    by = table_rows(html, "coverage-by-district")
    assert [r[0] for r in by[:-1]] == [d["district_id"] for d in ev["by_district"]]
    for row, d in zip(by, ev["by_district"], strict=False):
        assert row[2:] == [f"{d['points']:,}", mr.share_text(d["area_share"]), mr.share_text(d["population_share"])]
    assert by[-1][1:] == ["total", f"{ev['points']:,}", mr.share_text(ev["area_share"]),
                          mr.share_text(ev["population_share"])]
    assert "Coverage evaluation at \u221295 dBm" in parse(html).section("radio")


def test_rsrp_chart_is_the_histogram(saved, report):
    from rollout.plan import load_plan_summary

    ev = load_plan_summary(saved)["coverage"]["evaluation"]
    fig = re.search(r'<figure id="rsrp-chart">.*?(<svg class="chart".*?</svg>)', report[1], re.S)
    assert fig
    root = ET.fromstring(fig.group(1))
    bars = [e for e in root.iter() if e.tag.endswith("rect")]
    assert len(bars) == len(ev["rsrp_histogram"])
    # bar heights are proportional to the population per bin
    heights = [float(b.get("height")) for b in bars]
    pops = [h["population"] for h in ev["rsrp_histogram"]]
    top = max(range(len(pops)), key=pops.__getitem__)
    for h, p in zip(heights, pops, strict=True):
        assert h == pytest.approx(heights[top] * p / pops[top], abs=0.06)
    # red below the threshold, green at or above it
    inf = float("inf")
    hist = ev["rsrp_histogram"]
    fills = {b.get("fill") for b, h in zip(bars, hist, strict=True) if (h["dbm_hi"] or inf) <= -95}
    assert fills == {"#cb181d"}
    fills = {b.get("fill") for b, h in zip(bars, hist, strict=True) if (h["dbm_lo"] or -inf) >= -95}
    assert fills == {"#41ab5d"}
    # open-ended bins (infinite bounds are saved as null) are labelled as such (every bar's tooltip has its label)
    assert hist[0]["dbm_lo"] is None and hist[-1]["dbm_hi"] is None
    labels = [bar_label(b) for b in bars]
    assert labels[0] == "< \u2212120" and labels[1] == "\u2212120\u2026\u2212110" and labels[-1] == "\u2265 \u221260"
    assert_axis_labels_clear(root, labels)


def bar_label(rect) -> str:
    """The bin label of a histogram bar, from its tooltip '<label>: <count>'."""
    tip = next(e for e in rect if e.tag.endswith("title"))
    return tip.text.rsplit(": ", 1)[0]


def assert_axis_labels_clear(root, bin_labels: list[str]) -> None:
    """The labels under a histogram's x axis are bin labels, in order, thinned evenly, and never overlap;
    the count ticks fit between the y-axis title and the plot."""
    from maps.charts import LABEL_GAP_PX, text_width_px

    axis = [(float(e.get("x")), "".join(e.itertext())) for e in root.iter()
            if e.tag.endswith("text") and e.get("class") == "ax" and e.get("text-anchor") == "middle"]
    assert axis and axis[0][1] == bin_labels[0]
    shown = [bin_labels.index(t) for _, t in axis]
    stride = shown[1] - shown[0] if len(shown) > 1 else len(bin_labels)
    assert shown == list(range(0, len(bin_labels), stride))
    for (xa, a), (xb, b) in zip(axis, axis[1:], strict=False):
        assert xb - xa >= (text_width_px(a) + text_width_px(b)) / 2 + LABEL_GAP_PX, (a, b)
    for e in root.iter():
        if e.tag.endswith("text") and e.get("text-anchor") == "end":   # count ticks, right-aligned at x
            assert float(e.get("x")) - text_width_px("".join(e.itertext())) >= 20


def rsrp_bins(lo_dbm: int, step_db: int, n: int) -> list[dict]:
    """A histogram as plan.json stores it: open bins at both ends (null bounds), ``n`` bins in all."""
    edges = [lo_dbm + step_db * i for i in range(n - 1)]
    return [{"dbm_lo": a, "dbm_hi": b, "points": 10, "population": 1000.0 * (i + 1) ** 3}
            for i, (a, b) in enumerate(zip([None, *edges], [*edges, None], strict=True))]


@settings(max_examples=60, deadline=None)
@given(n=hst.integers(2, 40), step_db=hst.sampled_from([1, 2, 5, 10]), lo_dbm=hst.integers(-150, -60),
       width=hst.integers(320, 1000))
@example(n=15, step_db=5, lo_dbm=-130, width=720)   # the Qingdao default: its labels overlapped before
def test_rsrp_chart_axis_labels_never_overlap(n, step_db, lo_dbm, width):
    import maps.network_report as nr

    svg = nr.rsrp_chart(rsrp_bins(lo_dbm, step_db, n), -110.0)["svg"]
    root = ET.fromstring(str(svg).replace('width="720"', f'width="{width}"'))
    bars = [e for e in root.iter() if e.tag.endswith("rect")]
    assert len(bars) == n
    assert_axis_labels_clear(root, [bar_label(b) for b in bars])


@settings(max_examples=40, deadline=None)
@given(labels=hst.lists(hst.text(alphabet="0123456789%\u2212\u2026\u2265<> \u9752\u5c9b", min_size=1, max_size=14),
                        min_size=1, max_size=50, unique=True),
       width=hst.integers(240, 1000), big=hst.floats(1, 5e9))
def test_histogram_axis_labels_never_overlap(labels, width, big):
    counts = [big * (i % 3) for i in range(len(labels))]
    root = ET.fromstring(str(mr.svg_histogram(counts, labels, width=width, ylabel="people")))
    bars = [e for e in root.iter() if e.tag.endswith("rect")]
    assert [bar_label(b) for b in bars] == labels
    assert_axis_labels_clear(root, labels)


def test_optical_budget_and_bill_of_quantities(saved, report):
    from rollout.plan import load_plan_summary

    html = report[1]
    pon = load_plan_summary(saved)["pon"]
    rows = table_rows(html, "optical-budget")
    assert [r[:2] for r in rows] == [[o["split"], o["class"]] for o in pon["optical_budget"]]
    assert [r[5] for r in rows] == [f"{o['max_route_km']:,.1f}" for o in pon["optical_budget"]]
    boq = pon["bill_of_quantities"]
    odn = parse(html).section("odn")
    for text in (f"OLT line cards {boq['olt_cards']:,}", f"OLT chassis, new {boq['olt_chassis_new']:,}",
                 f"OLT sites, upgraded {boq['olt_sites_upgraded']:,}",
                 f"splitters 1:8 {boq['splitters']['1:8']:,}",
                 f"fibre, feeder (OLT to cabinets) {boq['fibre_km']['feeder']:,.1f} km",
                 f"fibre, distribution (cabinets to homes, in-cell cabling included) "
                 f"{boq['fibre_km']['distribution']:,.1f} km",
                 f"fibre, 5G backhaul on PON (sites homed on an OLT) {boq['fibre_km']['backhaul']:,.1f} km",
                 f"trench {boq['trench_km']:,.1f} km", f"homes passed {boq['homes_passed']:,.0f}",
                 f"cost per home passed {boq['cost_per_home_passed_cny']:,.0f} CNY"):
        assert text in odn, text
    kpis = parse(html).section("kpis")
    assert f"cost per home passed {boq['cost_per_home_passed_cny']:,.0f} CNY" in kpis
    # the saved-figures table keeps the scalars but not the lists shown as tables above
    saved_sec = parse(html).section("saved")
    assert "pon.bill_of_quantities.trench_km" in saved_sec and "pon.optical_budget" not in saved_sec
    assert "coverage.evaluation.by_district" not in saved_sec


def test_district_coverage_is_the_evaluation(saved, report):
    """With an evaluation, the districts table shows each district's evaluated population share."""
    from rollout.plan import load_plan_summary

    ev = load_plan_summary(saved)["coverage"]["evaluation"]
    rows = table_rows(report[1], "districts")
    by = {d["district_id"]: d["population_share"] for d in ev["by_district"]}
    for row in rows[:-1]:
        assert row[-1] == mr.share_text(by[row[0]])


def test_modelled_existing_network_is_labelled(report):
    html = report[1]
    page = parse(html)
    assert "existing 5G sites modelled: least-cost network" in page.section("sources")
    assert 'id="modelled-existing"' in html
    assert "(existing network modelled)" in page.section("kpis")
    assert "(modelled, not a site database)" in page.section("radio")
    # the source text is user text: escaped
    assert "count <20,000>" in " ".join(page.text) and "count <20,000>" not in html


def test_existing_network_from_a_file_is_not_called_modelled(tmp_path):
    plan = make_plan(12, 6, seed=4)
    plan.radio = {**plan.radio, "existing_source": "sites_2021.gpkg"}
    html = mr.render_report_html(plan)
    assert "modelled-existing" not in html and "existing network modelled" not in html
    assert "Existing 5G sites: sites_2021.gpkg" in " ".join(parse(html).section("radio").split())


def test_partial_network_parts(tmp_path):
    """Each optional part draws on its own: an evaluation without a histogram, a BoQ without an optical table."""
    plan = make_plan(12, 6, seed=6)
    del plan.coverage["evaluation"]["rsrp_histogram"]
    plan.pon = {"bill_of_quantities": {"ports": 128, "homes_passed": 0, "cost_per_home_passed_cny": None}}
    plan.radio = {}
    html = mr.render_report_html(plan)
    page = parse(html)
    assert "rsrp-chart" not in html and "link-budget" not in html and "optical-budget" not in html
    assert "10G-PON ports 128" in page.section("odn") and "cost per home passed \u2013" in page.section("odn")
    assert "Coverage evaluation" in page.section("radio")
    for svg in re.findall(r"<svg class=\"chart\".*?</svg>", html, re.S):
        ET.fromstring(svg)


def test_hbar_labels_and_legend_fit_the_chart():
    """Long CJK + English district labels get a label column as wide as they are, and a long legend wraps
    inside the chart's width (the capex chart clipped both)."""
    import re

    from maps.charts import svg_hbar_chart, text_width_px

    labels = ["黄岛区 Huangdao (West Coast New Area)", "市南区 Shinan"]
    series = [(name, [1.0, 2.0], "#000") for name in
              ("5G macro", "5G small cells", "OLT sites & PON ports", "PON fibre (feeder, distribution)", "cabinets")]
    svg = str(svg_hbar_chart(labels, series, width=720))
    label_x = [float(x) for x in re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="end" class="lb">', svg)]
    widest = max(text_width_px(lab[:27] + "\u2026" if len(lab) > 28 else lab) for lab in labels)
    assert min(label_x) >= widest            # right-aligned at label_w - 6: nothing runs off the left edge
    for x, name in re.findall(r'<text x="([\d.]+)" y="[\d.]+" class="lg">([^<]+)</text>', svg):
        assert float(x) + text_width_px(html.unescape(name)) <= 720


def test_fibre_card_names_the_small_cell_spurs(saved, report):
    """The backhaul km of the fibre card, and how much of it is small cells' spurs to their macro sites."""
    from rollout.plan import load_plan

    links = load_plan(saved).links
    back = links[links["kind"] == "backhaul"]
    spur = back.loc[back["carrier"] == "spur", "route_km"].sum()
    assert spur > 0
    kpis = parse(report[1]).section("kpis")
    assert f"backhaul {back['route_km'].sum():,.0f} km (route; {spur:,.0f} km of it small-cell spurs to macro sites)" \
        in kpis
