/*
 * Qingdao rollout: the map page renderer (MIT, part of this project).
 *
 * Reads the JSON data block (id "rollout-data") written by maps/map.py and
 * draws it with Leaflet: polygons and lines on Leaflet's canvas renderer, points
 * (stations, OLT sites) on PointsLayer canvases stamped pixel by pixel, so
 * 35,000+ stations stay fluid even without GPU rasterisation.
 * No network use at all except basemap tiles; a tile that fails only shows a
 * note, the vector layers do not depend on it.
 *
 * Every input-derived string reaches the page through textContent (never as
 * markup): popups, tooltips and the legend are built as DOM nodes.
 *
 * Coordinates arrive as integers in 1/scale degrees (WGS-84). Points are
 * absolute; rings and lines are delta-encoded (first vertex absolute, then
 * differences). Over a GCJ-02 basemap (Gaode) every overlay is redrawn shifted
 * by bilinear interpolation in a small offset grid that Python computed with
 * gis.crs.wgs84_to_gcj02.
 *
 * window.rolloutMap exposes what the browser actually drew: counts per layer
 * (computed from the built Leaflet layers), ready (true after the first
 * draw), readyMs (performance.now() at that moment), gcj (basemap datum).
 */
(function () {
  'use strict';

  var D = JSON.parse(document.getElementById('rollout-data').textContent);
  var mapEl = document.getElementById('map');
  var S = D.scale;
  var state = window.rolloutMap = {
    ready: false, readyMs: null, gcj: false, counts: {}, tileErrors: 0,
    layers: {}, map: null, setBasemap: null, setDistrictMetric: null, setStationColour: null
  };

  // ------------------------------------------------------------------ DOM helpers (text only)
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function swatch(color, fill, shape) {
    var s = el('span', 'rm-swatch' + (shape ? ' rm-' + shape : ''));
    s.style.background = fill || color;
    s.style.borderColor = color;
    return s;
  }
  function hexRgb(h) {
    h = String(h || '#777').replace('#', '');
    if (h.length === 3) h = h.replace(/(.)/g, '$1$1');
    var v = parseInt(h.slice(0, 6), 16);
    return isFinite(v) ? [(v >> 16) & 255, (v >> 8) & 255, v & 255] : [119, 119, 119];
  }
  function escapeHtml(s) {  // only for Leaflet's layer-control labels, which it inserts as HTML
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }

  // ------------------------------------------------------------------ number formats
  var nf0 = new Intl.NumberFormat('en-US', {maximumFractionDigits: 0});
  function fmt(v, f) {
    if (v === null || v === undefined || (typeof v === 'number' && !isFinite(v))) return '\u2013';
    switch (f) {
      case 'int': return nf0.format(v);
      case 'cny': return nf0.format(v) + ' CNY';
      case 'share': return (v * 100).toFixed(1) + ' %';
      case 'pct': return Number(v).toFixed(1) + ' %';
      case 'num1': return Number(v).toFixed(1);
      case 'num2': return Number(v).toFixed(2);
      case 'km': return Number(v).toFixed(2) + ' km';
      case 'km2': return Number(v).toFixed(1) + ' km\u00b2';
      case 'm': return nf0.format(v) + ' m';
      case 'mbps': return Number(v).toFixed(1) + ' Mbit/s';
      case 'bool': return v ? 'yes' : 'no';
      case 'year': return v > 0 ? String(v) : '\u2013';
      default: return String(v);
    }
  }
  function fmtStep(v, f, step) {  // legend class bounds: enough digits to tell classes apart
    if (v === null || !isFinite(v)) return fmt(v, f);
    var scale = f === 'share' ? 100 : 1, unit = f === 'share' ? ' %' : '';
    if (['share', 'pct', 'num1', 'num2', 'int'].indexOf(f) < 0) return fmt(v, f);
    var d = step > 0 ? Math.max(0, Math.min(4, Math.ceil(-Math.log10(step * scale)) + 1)) : 2;
    if (f === 'int' && step * scale >= 10) d = 0;
    return (v * scale).toLocaleString('en-US', {minimumFractionDigits: d, maximumFractionDigits: d}) + unit;
  }
  function fieldValue(f, i) {
    var v = f.v[i];
    if (f.dict) v = (v === null || v < 0) ? null : f.dict[v];
    return v;
  }
  function popupContent(spec, i, extra) {
    var box = el('div', 'rm-popup');
    box.appendChild(el('div', 'rm-popup-title', spec.titles ? spec.titles[i] : spec.label));
    if (extra) box.appendChild(el('div', 'rm-popup-sub', extra));
    var t = el('table');
    (spec.popup || []).forEach(function (f) {
      var tr = el('tr');
      tr.appendChild(el('th', null, f.label));
      tr.appendChild(el('td', null, fmt(fieldValue(f, i), f.fmt)));
      t.appendChild(tr);
    });
    box.appendChild(t);
    return box;
  }

  // ------------------------------------------------------------------ coordinates
  var shift = null;
  if (D.gcjGrid) {
    var g = D.gcjGrid;
    shift = function (lon, lat) {
      var fx = Math.min(Math.max((lon - g.lon0) / g.step, 0), g.nx - 1.000001);
      var fy = Math.min(Math.max((lat - g.lat0) / g.step, 0), g.ny - 1.000001);
      var ix = Math.floor(fx), iy = Math.floor(fy), tx = fx - ix, ty = fy - iy;
      var k = iy * g.nx + ix, k2 = k + g.nx;
      function b(a) {
        return (a[k] * (1 - tx) + a[k + 1] * tx) * (1 - ty) + (a[k2] * (1 - tx) + a[k2 + 1] * tx) * ty;
      }
      return [lon + b(g.dx) / g.unit, lat + b(g.dy) / g.unit];
    };
  }
  state.shift = shift;
  function ll(lon, lat) {
    if (state.gcj && shift) { var p = shift(lon, lat); return [p[1], p[0]]; }
    return [lat, lon];
  }
  function decode(a) {  // delta-encoded flat ints -> [[lat, lng], ...]
    var n = a.length / 2, out = new Array(n), x = 0, y = 0;
    for (var i = 0; i < n; i++) { x += a[2 * i]; y += a[2 * i + 1]; out[i] = ll(x / S, y / S); }
    return out;
  }
  function decodePolys(polys) { return polys.map(function (p) { return p.map(decode); }); }
  function inRing(lat, lng, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var yi = ring[i][0], xi = ring[i][1], yj = ring[j][0], xj = ring[j][1];
      if (((yi > lat) !== (yj > lat)) && (lng < (xj - xi) * (lat - yi) / (yj - yi) + xi)) inside = !inside;
    }
    return inside;
  }

  // ------------------------------------------------------------------ the map
  var renderer = L.canvas({padding: 0.5, tolerance: 3});
  var map = L.map(mapEl, {preferCanvas: true, renderer: renderer, zoomSnap: 0.5, worldCopyJump: false});
  state.map = map;
  map.attributionControl.setPrefix('<a href="https://leafletjs.com" title="Leaflet">Leaflet</a>');

  // ------------------------------------------------------------------ basemaps
  var bases = {}, baseById = {}, tileNote = null;
  function noteTileError() {
    state.tileErrors += 1;
    if (tileNote) tileNote.style.display = 'block';
  }
  D.basemaps.forEach(function (b) {
    var layer;
    if (b.url) {
      layer = L.tileLayer(b.url, {
        attribution: b.attribution, maxZoom: b.maxZoom || 19, subdomains: b.subdomains || 'abc',
        crossOrigin: false, detectRetina: false
      });
      layer.on('tileerror', noteTileError);
    } else {
      layer = L.layerGroup();
    }
    layer.rmGcj = !!b.gcj;
    layer.rmId = b.id;
    bases[escapeHtml(b.name)] = layer;
    baseById[b.id] = layer;
  });

  // ------------------------------------------------------------------ overlays
  var SEQ = ['#ffffcc', '#c7e9b4', '#7fcdbb', '#41b6c4', '#2c7fb8', '#253494'];
  var NODATA = '#d9d9d9';
  var ui = {metric: {}, stationMode: {}, radiusScale: 1};
  function radiusScaleFor(z) { return z <= 9 ? 0.45 : z <= 10 ? 0.6 : z <= 11 ? 0.8 : 1; }

  function metricSpec(spec) {
    var id = ui.metric[spec.id];
    for (var k = 0; k < spec.metrics.length; k++) if (spec.metrics[k].id === id) return spec.metrics[k];
    return null;
  }
  function breaks(values) {
    var v = values.filter(function (x) { return x !== null && isFinite(x); });
    if (!v.length) return [];
    var lo = Math.min.apply(null, v), hi = Math.max.apply(null, v);
    if (hi === lo) return [lo, hi];
    var n = Math.min(5, v.length), out = [];
    for (var i = 0; i <= n; i++) out.push(lo + (hi - lo) * i / n);
    return out;
  }
  function classOf(x, br) {
    if (x === null || !isFinite(x) || !br.length) return -1;
    for (var i = 1; i < br.length - 1; i++) if (x < br[i]) return i - 1;
    return Math.max(0, br.length - 2);
  }
  function rampColor(k, n) {
    if (k < 0) return NODATA;
    if (n <= 1) return SEQ[3];
    return SEQ[Math.round(k * (SEQ.length - 1) / (n - 1))];
  }
  function districtStyle(spec, i) {
    var m = metricSpec(spec);
    var st = {color: '#333', weight: 1.5, opacity: 0.9, fill: true, fillOpacity: 0};
    if (m) {
      var br = m.breaks || (m.breaks = breaks(m.v));
      var k = classOf(m.v[i], br);
      st.fillColor = rampColor(k, Math.max(1, br.length - 1));
      st.fillOpacity = 0.55;
    }
    return st;
  }

  function buildDistricts(spec) {
    var g = L.featureGroup();
    spec.polys.forEach(function (polys, i) {
      var layer = L.polygon(decodePolys(polys), districtStyle(spec, i));
      layer.rmIndex = i;
      layer.bindTooltip(function () {
        var m = metricSpec(spec);
        var box = el('div', 'rm-tip');
        box.appendChild(el('b', null, spec.titles[i]));
        if (m) box.appendChild(el('div', null, m.label + ': ' + fmt(m.v[i], m.fmt)));
        return box;
      }, {sticky: true, direction: 'top', opacity: 0.95});
      layer.on('click', function (e) {
        if (clickHit) return;   // a point under the mouse wins
        L.popup({maxWidth: 360}).setLatLng(e.latlng).setContent(popupContent(spec, i)).openOn(map);
      });
      g.addLayer(layer);
    });
    g.rmCount = function () { return {features: g.getLayers().length}; };
    g.rmRestyle = function () { g.eachLayer(function (l) { l.setStyle(districtStyle(spec, l.rmIndex)); }); };
    return g;
  }

  function pointClasses(spec) {
    var mode = ui.stationMode[spec.id];
    if (mode === 'alt' && spec.alt) return {classes: spec.alt.classes, cls: spec.alt.cls};
    return {classes: spec.classes, cls: spec.cls};
  }
  // Points (stations, OLT sites, candidates): one canvas per layer, drawn in one
  // path per style class, so 35,000+ points redraw in a few milliseconds. The
  // canvas ignores the mouse; clicks and hover are hit-tested here (see pointHit).
  var PAD = 0.2;
  var PointsLayer = L.Layer.extend({
    initialize: function (spec, zIndex) {
      var n = spec.x.length;
      this.spec = spec;
      this.n = n;
      this.zIndex = zIndex;
      this.lat = new Float64Array(n);
      this.lng = new Float64Array(n);
      this.wx = new Float64Array(n);   // Web Mercator world coordinates in [0, 1]
      this.wy = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        var p = ll(spec.x[i] / S, spec.y[i] / S), lat = Math.max(Math.min(p[0], 85.0511287798), -85.0511287798);
        this.lat[i] = p[0];
        this.lng[i] = p[1];
        this.wx[i] = (p[1] + 180) / 360;
        this.wy[i] = 0.5 - Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360)) / (2 * Math.PI);
      }
      this.restyle();
    },
    restyle: function () {
      var pc = pointClasses(this.spec), members = pc.classes.map(function () { return []; });
      for (var i = 0; i < this.n; i++) {
        var k = pc.cls[i];
        if (members[k]) members[k].push(i);
      }
      this.pc = pc;
      this.members = members;
      this._stamps = {};
      if (this._map) this._draw();
    },
    radiusOf: function (i) {
      var c = this.pc.classes[this.pc.cls[i]];
      return (this.spec.radius ? this.spec.radius[i] : c.radius) * ui.radiusScale;
    },
    onAdd: function (m) {
      var name = 'rm-points-' + this.zIndex;
      var pane = m.getPane(name) || m.createPane(name);
      pane.style.zIndex = String(450 + this.zIndex);
      pane.style.pointerEvents = 'none';
      this._canvas = L.DomUtil.create('canvas', 'leaflet-zoom-animated rm-points', pane);
      this._canvas.style.pointerEvents = 'none';
      m.on('moveend viewreset resize', this._reset, this);
      m.on('zoomanim', this._animateZoom, this);
      this._reset();
    },
    onRemove: function (m) {
      L.DomUtil.remove(this._canvas);
      m.off('moveend viewreset resize', this._reset, this);
      m.off('zoomanim', this._animateZoom, this);
      this._canvas = null;
    },
    _animateZoom: function (e) {
      var scale = this._map.getZoomScale(e.zoom, this._zoom);
      var offset = this._map._latLngToNewLayerPoint(this._topLeftLatLng, e.zoom, e.center);
      L.DomUtil.setTransform(this._canvas, offset, scale);
    },
    _reset: function () {
      var m = this._map, size = m.getSize(), pad = size.multiplyBy(PAD).round();
      var topLeft = m.containerPointToLayerPoint([0, 0]).subtract(pad).round();
      var full = size.add(pad.multiplyBy(2)), dpr = window.devicePixelRatio || 1, c = this._canvas;
      L.DomUtil.setPosition(c, topLeft);
      if (c.width !== Math.round(full.x * dpr)) this._stamps = {};
      c.width = Math.round(full.x * dpr);
      c.height = Math.round(full.y * dpr);
      c.style.width = full.x + 'px';
      c.style.height = full.y + 'px';
      this._topLeft = topLeft;
      this._topLeftLatLng = m.layerPointToLatLng(topLeft);
      this._zoom = m.getZoom();
      this._full = full;
      this._dpr = dpr;
      this._draw();
    },
    _draw: function () {
      // Points are stamped straight into a pixel buffer (pre-computed anti-aliased
      // stamps, one per class and radius) and put on the canvas in one call: with
      // software rasterisation that is ten times faster than drawing 35,000 arcs.
      if (!this._canvas || !this._full) return;
      var t0 = performance.now();
      var m = this._map, cv = this._canvas, ctx = cv.getContext('2d'), dpr = this._dpr;
      var Wd = cv.width, Hd = cv.height;
      var scale = 256 * Math.pow(2, this._zoom), origin = m.getPixelOrigin();
      var offX = origin.x + this._topLeft.x, offY = origin.y + this._topLeft.y;
      if (!this._img || this._img.width !== Wd || this._img.height !== Hd) this._img = ctx.createImageData(Wd, Hd);
      else this._img.data.fill(0);
      var data = this._img.data, thin = ui.radiusScale < 0.7, drawn = 0;
      var u32 = this._u32 && this._u32.buffer === data.buffer ? this._u32 : (this._u32 = new Uint32Array(data.buffer));
      for (var k = this.members.length - 1; k >= 0; k--) {   // the first class ends on top
        var idx = this.members[k];
        for (var j = 0; j < idx.length; j++) {
          var i = idx[j], st = this._stamp(k, this.radiusOf(i), thin, dpr);
          var X = Math.round((this.wx[i] * scale - offX) * dpr), Y = Math.round((this.wy[i] * scale - offY) * dpr);
          if (X < -st.ext || Y < -st.ext || X >= Wd + st.ext || Y >= Hd + st.ext) continue;
          var inside = X >= st.ext && Y >= st.ext && X < Wd - st.ext && Y < Hd - st.ext;
          var base = Y * Wd + X;
          if (inside) {   // the opaque body of the stamp: one 32-bit write per pixel
            for (var q0 = 0; q0 < st.nOpaque; q0++) u32[base + st.off[q0]] = st.px[q0];
          }
          for (var q = inside ? st.nOpaque : 0; q < st.n; q++) {
            var px = X + st.dx[q], py = Y + st.dy[q];
            if (!inside && (px < 0 || py < 0 || px >= Wd || py >= Hd)) continue;
            var o = (py * Wd + px) * 4, a = st.a[q];
            if (a >= 0.996) {
              u32[o >> 2] = st.px[q];
            } else {
              var da = data[o + 3] / 255, keep = da * (1 - a), oa = a + keep;
              data[o] = (st.r[q] * a + data[o] * keep) / oa;
              data[o + 1] = (st.g[q] * a + data[o + 1] * keep) / oa;
              data[o + 2] = (st.b[q] * a + data[o + 2] * keep) / oa;
              data[o + 3] = oa * 255;
            }
          }
          drawn++;
        }
      }
      ctx.putImageData(this._img, 0, 0);
      this.drawn = drawn;
      this.drawMs = performance.now() - t0;
      state.draws = (state.draws || 0) + 1;
    },
    _stamp: function (k, r, thin, dpr) {
      var R = Math.max(0.75, Math.round(r * dpr * 2) / 2);   // radius in device pixels
      var key = k + ':' + R + ':' + (thin ? 1 : 0);
      var st = this._stamps[key];
      if (st) return st;
      var c = this.pc.classes[k], fo = c.fillOpacity === undefined ? 1 : c.fillOpacity;
      var wt = (c.weight === undefined ? 1 : c.weight) * (thin ? 0.5 : 1) * dpr;
      var fill = hexRgb(c.fill || c.color), line = hexRgb(c.color), ext = Math.ceil(R + wt / 2 + 1);
      var dx = [], dy = [], rr = [], gg = [], bb = [], aa = [];
      for (var y = -ext; y <= ext; y++) {
        for (var x = -ext; x <= ext; x++) {
          var pr = 0, pg = 0, pb = 0, pa = 0;
          for (var sy = 0; sy < 4; sy++) {
            for (var sx = 0; sx < 4; sx++) {
              var d = Math.sqrt(Math.pow(x + (sx - 1.5) / 4, 2) + Math.pow(y + (sy - 1.5) / 4, 2)), col = null, al = 0;
              if (wt > 0 && Math.abs(d - R) <= wt / 2) { col = line; al = 1; }
              else if (d < R) { col = fill; al = fo; }
              if (col) { pr += col[0] * al; pg += col[1] * al; pb += col[2] * al; pa += al; }
            }
          }
          if (pa < 0.05) continue;
          dx.push(x); dy.push(y);
          rr.push(pr / pa); gg.push(pg / pa); bb.push(pb / pa); aa.push(pa / 16);
        }
      }
      // opaque pixels first (written as whole 32-bit words), then the blended rim
      var order = dx.map(function (_, q) { return q; }).sort(function (p, q) { return (aa[q] >= 0.996) - (aa[p] >= 0.996); });
      var n = order.length, W = this._canvas.width;
      st = {n: n, ext: ext, nOpaque: 0, dx: new Int16Array(n), dy: new Int16Array(n), off: new Int32Array(n),
            px: new Uint32Array(n), r: new Float32Array(n), g: new Float32Array(n), b: new Float32Array(n),
            a: new Float32Array(n), width: W};
      order.forEach(function (q, j) {
        st.dx[j] = dx[q]; st.dy[j] = dy[q]; st.off[j] = dy[q] * W + dx[q];
        st.r[j] = rr[q]; st.g[j] = gg[q]; st.b[j] = bb[q]; st.a[j] = aa[q];
        st.px[j] = ((255 << 24) | (Math.round(bb[q]) << 16) | (Math.round(gg[q]) << 8) | Math.round(rr[q])) >>> 0;
        if (aa[q] >= 0.996) st.nOpaque = j + 1;
      });
      this._stamps[key] = st;
      return st;
    },
    hitTest: function (cp, tolerance) {   // container point -> index of the nearest point under it, or -1
      if (!this._map) return -1;
      var m = this._map, scale = 256 * Math.pow(2, m.getZoom()), origin = m.getPixelOrigin();
      var pane = m.containerPointToLayerPoint([0, 0]);
      var offX = origin.x + pane.x, offY = origin.y + pane.y, best = -1, bestD = Infinity;
      for (var k = 0; k < this.members.length; k++) {
        var idx = this.members[k];
        for (var j = 0; j < idx.length; j++) {
          var i = idx[j], dx = this.wx[i] * scale - offX - cp.x, dy = this.wy[i] * scale - offY - cp.y;
          var r = this.radiusOf(i) + tolerance, d = dx * dx + dy * dy;
          if (d <= r * r && d < bestD) { best = i; bestD = d; }
        }
      }
      return best;
    },
    latLngOf: function (i) { return L.latLng(this.lat[i], this.lng[i]); },
    openPopupFor: function (i) {
      L.popup({maxWidth: 360, offset: [0, -Math.round(this.radiusOf(i))]}).setLatLng(this.latLngOf(i))
        .setContent(popupContent(this.spec, i)).openOn(this._map || map);
    },
    rmCount: function () {
      var weighted = 0, w = this.spec.w;
      for (var i = 0; i < this.n; i++) weighted += w ? w[i] : 1;
      return {features: this.n, weighted: weighted};
    },
    rmRestyle: function () { this.restyle(); }
  });
  function buildPoints(spec, zIndex) { return new PointsLayer(spec, zIndex); }

  // which point is under the mouse: the top-most visible points layer first
  function pointHit(cp) {
    for (var k = overlays.length - 1; k >= 0; k--) {
      var o = overlays[k];
      if (o.spec.kind !== 'points' || !o.inner || !map.hasLayer(o.container)) continue;
      var i = o.inner.hitTest(cp, 3);
      if (i >= 0) return {o: o, i: i};
    }
    return null;
  }

  function buildPolys(spec) {
    var g = L.featureGroup();
    spec.classes.forEach(function (c, k) {
      var idx = [], latlngs = [];
      for (var i = 0; i < spec.cls.length; i++) {
        if (spec.cls[i] !== k) continue;
        var polys = decodePolys(spec.polys[i]);
        for (var p = 0; p < polys.length; p++) { latlngs.push(polys[p]); idx.push(i); }
      }
      if (!latlngs.length) return;
      var wt = c.weight === undefined ? 0.5 : c.weight;
      var layer = L.polygon(latlngs, {
        color: c.color, weight: wt, stroke: wt > 0, opacity: 0.8,
        fillColor: c.fill || c.color, fillOpacity: c.fillOpacity === undefined ? 0.45 : c.fillOpacity,
        interactive: !!spec.popup
      });
      layer.rmIdx = idx;
      layer.rmClass = k;
      g.addLayer(layer);
    });
    if (spec.popup) {
      g.on('click', function (e) {
        if (clickHit) return;
        var layer = e.layer, lls = layer.getLatLngs(), hit = -1;
        for (var p = 0; p < lls.length && hit < 0; p++) {
          if (inRing(e.latlng.lat, e.latlng.lng, lls[p][0])) hit = layer.rmIdx[p];
        }
        if (hit < 0) return;
        L.popup({maxWidth: 360}).setLatLng(e.latlng)
          .setContent(popupContent(spec, hit, spec.classes[layer.rmClass].label)).openOn(map);
      });
    }
    g.rmCount = function () {
      var seen = {}, features = 0;
      g.eachLayer(function (l) {
        l.rmIdx.forEach(function (i) { if (!seen[i]) { seen[i] = 1; features += 1; } });
      });
      return {features: features};
    };
    return g;
  }

  function buildLines(spec) {
    var parts = [], owner = [];
    spec.lines.forEach(function (feature, i) {
      feature.forEach(function (a) { parts.push(decode(a)); owner.push(i); });
    });
    var g = L.featureGroup();
    if (parts.length) {
      var layer = L.polyline(parts, {color: spec.color, weight: spec.weight || 1, opacity: spec.opacity || 0.7,
                                     interactive: false});
      layer.rmOwner = owner;
      g.addLayer(layer);
    }
    g.rmCount = function () {
      var seen = {}, features = 0;
      g.eachLayer(function (l) {
        l.rmOwner.forEach(function (i) { if (!seen[i]) { seen[i] = 1; features += 1; } });
      });
      return {features: features};
    };
    return g;
  }

  var BUILDERS = {districts: buildDistricts, points: buildPoints, polys: buildPolys, lines: buildLines};
  var overlays = [];          // in drawing order, bottom first
  var overlayControl = {};

  function updateCount(o) {
    var c = o.inner.rmCount();
    state.counts[o.spec.id] = c;
    var key = 'count' + o.spec.id.charAt(0).toUpperCase() + o.spec.id.slice(1).replace(/_(\w)/g, function (m, a) {
      return a.toUpperCase();
    });
    mapEl.dataset[key] = String(c.weighted !== undefined ? c.weighted : c.features);
    mapEl.dataset[key + 'Features'] = String(c.features);
  }
  function build(o) {
    var inner = BUILDERS[o.spec.kind](o.spec, overlays.indexOf(o));
    o.container.clearLayers();
    o.inner = inner;
    o.builtGcj = state.gcj;
    o.container.addLayer(inner);
    updateCount(o);
  }
  function restack(from) {
    // One canvas draws every overlay in the order the layers were added: bring the
    // overlays that belong above `from` back to the front.
    var after = false;
    overlays.forEach(function (o) {
      if (o === from) { after = true; return; }
      if (after && map.hasLayer(o.container) && o.inner && o.inner.bringToFront) o.inner.bringToFront();
    });
  }

  D.layers.forEach(function (spec) {
    if (spec.kind === 'districts') ui.metric[spec.id] = spec.metric || null;
    if (spec.kind === 'points') ui.stationMode[spec.id] = 'main';
    var o = {spec: spec, container: L.layerGroup(), inner: null, builtGcj: null};
    o.container.on('add', function () {
      if (o.builtGcj !== state.gcj) build(o);
      restack(o);
      updateLegend();
    });
    o.container.on('remove', function () { updateLegend(); });
    overlays.push(o);
    state.layers[spec.id] = o;
    overlayControl[escapeHtml(spec.label)] = o.container;
  });

  function setGcj(want) {
    want = !!(want && shift);
    if (want === state.gcj) return;
    state.gcj = want;
    overlays.forEach(function (o) {
      if (map.hasLayer(o.container)) build(o);
    });
    overlays.forEach(function (o) { if (map.hasLayer(o.container)) restack(o); });
    map.closePopup();
  }
  map.on('baselayerchange', function (e) { setGcj(e.layer.rmGcj); });
  map.on('zoomend', function () {
    // Points shrink when zoomed out, so that dense areas stay readable.
    var k = radiusScaleFor(map.getZoom());
    if (k === ui.radiusScale) return;
    ui.radiusScale = k;
    // the points layers redraw on the 'moveend' that follows
  });

  // clicks and hover on points (their canvases ignore the mouse)
  var clickHit = null;
  map.on('preclick', function (e) { clickHit = pointHit(e.containerPoint); });
  map.on('click', function () {
    if (clickHit) clickHit.o.inner.openPopupFor(clickHit.i);
    clickHit = null;
  });
  var hoverQueued = null;
  mapEl.addEventListener('mousemove', function (ev) {
    if (hoverQueued) { hoverQueued = ev; return; }
    hoverQueued = ev;
    requestAnimationFrame(function () {
      var h = pointHit(map.mouseEventToContainerPoint(hoverQueued));
      hoverQueued = null;
      mapEl.classList.toggle('rm-hover-point', !!h);
    });
  });

  // ------------------------------------------------------------------ controls
  function control(position, className, fill) {
    var C = L.Control.extend({
      onAdd: function () {
        var div = el('div', 'leaflet-control rm-control ' + className);
        fill(div);
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
      }
    });
    return new C({position: position}).addTo(map);
  }

  // title
  var titleBox = el('div', 'rm-title');
  titleBox.appendChild(el('div', 'rm-title-main', D.title));
  if (D.subtitle) titleBox.appendChild(el('div', 'rm-title-sub', D.subtitle));
  mapEl.appendChild(titleBox);
  L.DomEvent.disableClickPropagation(titleBox);

  // fullscreen (the Fullscreen API; no plugin needed)
  if (document.fullscreenEnabled) {
    control('topleft', 'leaflet-bar rm-fullscreen', function (div) {
      var a = el('a');
      var svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      svg.setAttribute('viewBox', '0 0 20 20');
      svg.setAttribute('width', '16');
      svg.setAttribute('height', '16');
      var path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
      path.setAttribute('d', 'M3 8V3h5M12 3h5v5M17 12v5h-5M8 17H3v-5');
      path.setAttribute('fill', 'none');
      path.setAttribute('stroke', '#222');
      path.setAttribute('stroke-width', '2');
      svg.appendChild(path);
      a.appendChild(svg);
      a.href = '#';
      a.title = 'Full screen';
      a.setAttribute('role', 'button');
      L.DomEvent.on(a, 'click', function (e) {
        L.DomEvent.preventDefault(e);
        if (document.fullscreenElement) document.exitFullscreen();
        else mapEl.requestFullscreen();
      });
      div.appendChild(a);
    });
    document.addEventListener('fullscreenchange', function () { map.invalidateSize(); });
  }

  L.control.scale({metric: true, imperial: false, position: 'bottomleft'}).addTo(map);

  var layerControl = L.control.layers(bases, overlayControl, {
    collapsed: window.innerWidth < 700 || window.innerHeight < 700, sortLayers: false
  }).addTo(map);
  state.layerControl = layerControl;

  // colour options: district choropleth metric, station colouring
  var optionOverlays = overlays.filter(function (o) {
    return (o.spec.kind === 'districts' && o.spec.metrics && o.spec.metrics.length) ||
           (o.spec.kind === 'points' && o.spec.alt);
  });
  if (optionOverlays.length) {
    control('topright', 'rm-options', function (div) {
      optionOverlays.forEach(function (o) {
        var spec = o.spec, box = el('div', 'rm-option-group');
        if (spec.kind === 'districts') {
          box.appendChild(el('div', 'rm-option-title', spec.label + ' coloured by'));
          var choices = spec.metrics.map(function (m) { return {id: m.id, label: m.label}; });
          choices.push({id: '', label: 'outline only'});
          choices.forEach(function (c) {
            var lab = el('label'), inp = el('input');
            inp.type = 'radio';
            inp.name = 'rm-metric-' + spec.id;
            inp.value = c.id;
            inp.checked = (ui.metric[spec.id] || '') === c.id;
            inp.addEventListener('change', function () { state.setDistrictMetric(c.id, spec.id); });
            lab.appendChild(inp);
            lab.appendChild(document.createTextNode(' ' + c.label));
            box.appendChild(lab);
          });
        } else {
          box.appendChild(el('div', 'rm-option-title', spec.label + ' coloured by'));
          var sel = el('select');
          [['main', spec.classesLabel || 'type and status'], ['alt', spec.alt.label]].forEach(function (c) {
            var op = el('option', null, c[1]);
            op.value = c[0];
            sel.appendChild(op);
          });
          sel.addEventListener('change', function () { state.setStationColour(sel.value, spec.id); });
          box.appendChild(sel);
        }
        div.appendChild(box);
      });
    });
  }

  state.setDistrictMetric = function (metricId, layerId) {
    var o = layerId ? state.layers[layerId] : overlays.filter(function (x) { return x.spec.kind === 'districts'; })[0];
    if (!o) return;
    ui.metric[o.spec.id] = metricId || null;
    if (o.inner) o.inner.rmRestyle();
    updateLegend();
  };
  state.setStationColour = function (mode, layerId) {
    var o = state.layers[layerId || 'stations'];
    if (!o) return;
    ui.stationMode[o.spec.id] = mode === 'alt' ? 'alt' : 'main';
    if (o.inner) o.inner.rmRestyle();
    updateLegend();
  };
  state.setBasemap = function (id) {
    var target = baseById[id];
    if (!target) return false;
    Object.keys(baseById).forEach(function (k) {
      if (k !== id && map.hasLayer(baseById[k])) map.removeLayer(baseById[k]);
    });
    if (!map.hasLayer(target)) map.addLayer(target);  // the layers control fires baselayerchange
    setGcj(target.rmGcj);
    return true;
  };

  // legend
  var legendBody = null;
  control('bottomright', 'rm-legend', function (div) {
    legendBody = el('div');
    div.appendChild(legendBody);
    tileNote = el('div', 'rm-tile-note', 'Basemap tiles could not be loaded (offline?). The plan layers are not affected.');
    tileNote.style.display = state.tileErrors ? 'block' : 'none';
    div.appendChild(tileNote);
  });
  function legendRow(parent, sw, text) {
    var row = el('div', 'rm-legend-row');
    row.appendChild(sw);
    row.appendChild(el('span', null, text));
    parent.appendChild(row);
  }
  function classCounts(cls, w, n) {
    var counts = new Array(n).fill(0);
    for (var i = 0; i < cls.length; i++) counts[cls[i]] += w ? w[i] : 1;
    return counts;
  }
  function updateLegend() {
    if (!legendBody) return;
    legendBody.textContent = '';
    overlays.forEach(function (o) {
      if (!map.hasLayer(o.container)) return;
      var spec = o.spec, sec = el('div', 'rm-legend-section');
      if (spec.kind === 'districts') {
        var m = metricSpec(spec);
        sec.appendChild(el('div', 'rm-legend-title', spec.label + (m ? ': ' + m.label : '')));
        if (m) {
          var br = m.breaks || (m.breaks = breaks(m.v)), n = Math.max(1, br.length - 1);
          for (var k = 0; k < n; k++) {
            var step = br.length > 1 ? br[1] - br[0] : 0;
            legendRow(sec, swatch('#333', rampColor(k, n)),
                      br.length ? fmtStep(br[k], m.fmt, step) + ' \u2013 ' + fmtStep(br[k + 1], m.fmt, step) : '');
          }
          if (m.v.some(function (x) { return x === null; })) legendRow(sec, swatch('#333', NODATA), 'no data');
        } else {
          legendRow(sec, swatch('#333', 'transparent'), 'district boundary');
        }
      } else if (spec.kind === 'points') {
        var pc = pointClasses(spec), cc = classCounts(pc.cls, spec.w, pc.classes.length);
        sec.appendChild(el('div', 'rm-legend-title', spec.label));
        pc.classes.forEach(function (c, k) {
          if (!cc[k]) return;
          legendRow(sec, swatch(c.color, c.fill, 'dot'), c.label + ' (' + nf0.format(cc[k]) + ')');
        });
        if (!pc.cls.length) sec.appendChild(el('div', 'rm-legend-note', 'none in this plan'));
        if (spec.sizeNote) sec.appendChild(el('div', 'rm-legend-note', spec.sizeNote));
      } else if (spec.kind === 'polys') {
        var pcc = classCounts(spec.cls, null, spec.classes.length);
        sec.appendChild(el('div', 'rm-legend-title', spec.label));
        spec.classes.forEach(function (c, k) {
          if (!pcc[k]) return;
          legendRow(sec, swatch(c.color, c.fill), c.label + ' (' + nf0.format(pcc[k]) + ')');
        });
      } else if (spec.kind === 'lines') {
        var line = el('span', 'rm-swatch rm-line');
        line.style.borderColor = spec.color;
        legendRow(sec, line, spec.label);
      }
      if (spec.note) sec.appendChild(el('div', 'rm-legend-note', spec.note));
      legendBody.appendChild(sec);
    });
  }

  // ------------------------------------------------------------------ start
  var start = baseById[D.basemap] || baseById[D.basemaps[0].id];
  state.gcj = !!(start.rmGcj && shift);
  map.addLayer(start);
  var b = D.bounds;
  map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {padding: [10, 10]});
  ui.radiusScale = radiusScaleFor(map.getZoom());
  overlays.forEach(function (o) { if (o.spec.on) map.addLayer(o.container); });
  updateLegend();
  requestAnimationFrame(function () {
    requestAnimationFrame(function () {
      state.ready = true;
      state.readyMs = performance.now();
      mapEl.dataset.ready = '1';
      // Hidden layers are built after the first draw, so that their counts are
      // known and switching them on is instant, without delaying the page.
      setTimeout(function () {
        overlays.forEach(function (o) { if (!o.inner) build(o); });
        state.allBuilt = true;
        mapEl.dataset.allBuilt = '1';
      }, 0);
    });
  });
})();
