/*
 * Rollout planner: the runtime of the folium map pages (MIT, part of this project).
 *
 * maps/map.py builds the page with folium (L.map, tile layers, L.geoJson layers,
 * the layer control, the fullscreen plugin, the scale bar) and adds a few custom
 * branca MacroElements whose scripts call this library:
 *
 *   var rt = RolloutMap.attach(map, config);      // first: the runtime of one folium map
 *   rt.addBasemap(tileLayer, {id, gcj});          // each folium TileLayer (base layer)
 *   rt.addGeoJson(geoJsonLayer, spec);            // each folium GeoJson overlay
 *   var layer = rt.addPoints(spec);               // the canvas point layers (5G stations, candidates)
 *   var image = rt.addRaster(spec);               // an image overlay (best-server RSRP), below the vectors
 *   rt.legend(position);                          // the legend control
 *   rt.start(layerControl);                       // last: title, colour options, ready flags
 *
 * Points (35,000+ stations) are not Leaflet markers: each point layer is one
 * canvas into which pre-rendered, anti-aliased dots are stamped as pixels, and
 * clicks are hit-tested here. Everything else is drawn by Leaflet's canvas
 * renderer from folium's GeoJSON.
 *
 * Every input-derived string reaches the page through textContent, never as
 * markup: popups, tooltips, the legend and the title are built as DOM nodes.
 *
 * Over a GCJ-02 basemap (Gaode) every overlay is rebuilt shifted, by bilinear
 * interpolation in an offset grid that Python computed with gis.crs.wgs84_to_gcj02.
 *
 * window.rolloutMap exposes what the browser actually built: counts per layer
 * (from the built Leaflet layers), ready (true after the first draw), readyMs
 * (performance.now() then), gcj (basemap datum), tileErrors, layers.
 */
(function () {
  'use strict';

  var RM = window.RolloutMap = {
    readJson: function (id) { return JSON.parse(document.getElementById(id).textContent); },
    of: function (map) { return map._rollout; },
    attach: function (map, cfg) { return attach(map, cfg); }
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
  function inRing(lat, lng, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var yi = ring[i].lat, xi = ring[i].lng, yj = ring[j].lat, xj = ring[j].lng;
      if (((yi > lat) !== (yj > lat)) && (lng < (xj - xi) * (lat - yi) / (yj - yi) + xi)) inside = !inside;
    }
    return inside;
  }
  function classCounts(cls, w, n) {
    var counts = new Array(n).fill(0);
    for (var i = 0; i < cls.length; i++) if (cls[i] >= 0 && cls[i] < n) counts[cls[i]] += w ? w[i] : 1;
    return counts;
  }

  // ================================================================== one runtime per folium map
  function attach(map, cfg) {
    var mapEl = map.getContainer();
    var S = cfg.scale;
    var state = {
      ready: false, readyMs: null, gcj: false, counts: {}, tileErrors: 0, allBuilt: false,
      layers: {}, map: map, shift: null, layerControl: null,
      setBasemap: null, setDistrictMetric: null, setStationColour: null
    };
    map._rollout = state;
    window.rolloutMap = state;
    // One canvas renderer for every vector overlay (folium's prefer_canvas), with a
    // wider margin so that short pans do not redraw, and a click tolerance for lines.
    if (!map.options.renderer) map.options.renderer = L.canvas({padding: 0.5, tolerance: 3});

    // ---------------------------------------------------------------- coordinates
    var shift = null;
    if (cfg.gcjGrid) {
      var g = cfg.gcjGrid;
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
    state.gcj = !!(cfg.startGcj && shift);
    function ll(lon, lat) {   // WGS-84 lon/lat -> [lat, lng] in the datum of the basemap shown
      if (state.gcj && shift) { var p = shift(lon, lat); return [p[1], p[0]]; }
      return [lat, lon];
    }
    function gcjCoordsToLatLng(c) { var p = ll(c[0], c[1]); return L.latLng(p[0], p[1]); }

    var ui = {metric: {}, stationMode: {}, radiusScale: 1};
    function radiusScaleFor(z) { return z <= 9 ? 0.45 : z <= 10 ? 0.6 : z <= 11 ? 0.8 : 1; }
    ui.radiusScale = radiusScaleFor(map.getZoom());

    var overlays = [];            // in drawing order, bottom first
    var legendBody = null, legendDiv = null, tileNote = null, clickHit = null;

    // ---------------------------------------------------------------- basemaps
    var baseById = {}, gcjByStamp = {};
    state.addBasemap = function (layer, b) {
      baseById[b.id] = layer;
      gcjByStamp[L.Util.stamp(layer)] = !!b.gcj;
      layer.on('tileerror', function () {
        state.tileErrors += 1;
        if (tileNote) tileNote.style.display = 'block';
      });
      return layer;
    };

    // ---------------------------------------------------------------- counts
    function countOf(o) {
      var spec = o.spec, layer = o.layer;
      if (spec.kind === 'points') return layer.rmCount();
      if (spec.kind === 'raster') return {features: spec.points};
      if (spec.kind === 'districts' || spec.kind === 'circles') return {features: layer.getLayers().length};
      // merged layers (one multi-geometry per class): count the features behind the parts built
      var seen = {}, features = 0, key = spec.kind === 'lines' ? 'owners' : 'cells';
      layer.eachLayer(function (l) {
        var owners = l.feature.properties[key], n = l.getLatLngs().length;
        for (var p = 0; p < n && p < owners.length; p++) {
          if (!seen[owners[p]]) { seen[owners[p]] = 1; features += 1; }
        }
      });
      return {features: features};
    }
    function updateCount(o) {
      var c = countOf(o);
      state.counts[o.spec.id] = c;
      var key = 'count' + o.spec.id.charAt(0).toUpperCase() + o.spec.id.slice(1).replace(/_(\w)/g, function (m, a) {
        return a.toUpperCase();
      });
      mapEl.dataset[key] = String(c.weighted !== undefined ? c.weighted : c.features);
      mapEl.dataset[key + 'Features'] = String(c.features);
    }

    function register(o) {
      o.index = overlays.length;
      overlays.push(o);
      state.layers[o.spec.id] = o;
      o.layer.on('add', function () {
        if (o.pending || o.builtGcj !== state.gcj) rebuild(o);
        restack(o);
        updateLegend();
      });
      o.layer.on('remove', function () { updateLegend(); });
      if (!o.pending) updateCount(o);
    }
    function restack(from) {
      // One canvas draws the vector overlays in the order they were added: bring the
      // overlays that belong above `from` back to the front.
      for (var k = from.index + 1; k < overlays.length; k++) {
        var o = overlays[k];
        if (map.hasLayer(o.layer) && o.layer.bringToFront) o.layer.bringToFront();
      }
    }
    function rebuild(o) {
      if (o.spec.kind === 'raster') {
        o.layer.setBounds(rasterBounds(o.spec));
      } else if (o.spec.kind === 'points') {
        o.layer.reproject();
      } else {
        var g = o.layer;
        var built = !o.pending;
        if (o.pending) {
          o.features = RM.readJson(o.pending).features;
          o.pending = null;
        }
        g.options.coordsToLatLng = state.gcj ? gcjCoordsToLatLng : L.GeoJSON.coordsToLatLng;
        if (built && o.spec.kind === 'circles') {   // points: move the markers rather than build them again
          g.eachLayer(function (l) { l.setLatLng(g.options.coordsToLatLng(l.feature.geometry.coordinates)); });
        } else {
          g.clearLayers();
          g.addData(o.features);
        }
      }
      o.builtGcj = state.gcj;
      updateCount(o);
    }

    // ---------------------------------------------------------------- GeoJSON overlays (built by folium)
    function metricSpec(spec) {
      var id = ui.metric[spec.id];
      for (var k = 0; k < (spec.metrics || []).length; k++) if (spec.metrics[k].id === id) return spec.metrics[k];
      return null;
    }
    function districtStyleFn(spec) {
      var m = metricSpec(spec), base = spec.style;
      return function (feature) {
        var st = L.Util.extend({}, base);
        st.fillColor = m ? m.colors[feature.properties.i] : base.fillColor;
        st.fillOpacity = m ? base.fillOpacity : 0;
        return st;
      };
    }
    function openPopup(latlng, content, offset) {
      L.popup({maxWidth: 360, offset: offset || [0, 7]}).setLatLng(latlng).setContent(content).openOn(map);
    }

    state.addGeoJson = function (layer, spec) {
      // the GeoJSON features as folium built them (WGS-84): kept to rebuild over GCJ-02 tiles. A layer
      // hidden at first comes without geometry; its features are in the spec, added when first needed.
      var o = {spec: spec, layer: layer, builtGcj: false, features: null, pending: null};
      if (spec.geojsonBlock) {
        o.pending = spec.geojsonBlock;   // the id of its JSON block, parsed when the shapes are needed
      } else {
        o.features = layer.getLayers().map(function (l) { return l.feature; });
      }
      if (spec.kind === 'districts') {
        ui.metric[spec.id] = spec.metric || null;
        layer.options.style = districtStyleFn(spec);
        layer.setStyle(layer.options.style);
        layer.bindTooltip(function (l) {
          var i = l.feature.properties.i, m = metricSpec(spec), box = el('div', 'rm-tip');
          box.appendChild(el('b', null, spec.titles[i]));
          if (m) box.appendChild(el('div', null, m.label + ': ' + fmt(m.v[i], m.fmt)));
          return box;
        }, {sticky: true, direction: 'top', opacity: 0.95});
        layer.on('click', function (e) {
          if (clickHit) return;   // a point under the mouse wins
          openPopup(e.latlng, popupContent(spec, (e.propagatedFrom || e.layer).feature.properties.i));
        });
        o.restyle = function () {
          layer.options.style = districtStyleFn(spec);
          layer.setStyle(layer.options.style);
        };
      } else if (spec.kind === 'circles') {
        // circles shrink when zoomed out, like the points: folium's style (radius by PON ports) times the scale
        // (called on 'zoomend', before Leaflet projects and redraws every path: setting the radius is enough)
        var styler = layer.options.style;
        layer.options.style = function (f) {
          var st = L.Util.extend({}, styler(f));
          st.radius = spec.radius[f.properties.i] * ui.radiusScale;
          return st;
        };
        o.rescale = function () {
          if (o.scale === ui.radiusScale) return;
          o.scale = ui.radiusScale;
          layer.eachLayer(function (l) { l.options.radius = l._radius = spec.radius[l.feature.properties.i] * ui.radiusScale; });
        };
        o.rescale();
        layer.on('click', function (e) {
          if (clickHit) return;
          var l = e.propagatedFrom || e.layer;
          openPopup(l.getLatLng(), popupContent(spec, l.feature.properties.i), [0, -Math.round(l.getRadius())]);
        });
      } else if (spec.kind === 'polys' && spec.popup) {
        layer.on('click', function (e) {
          if (clickHit) return;
          var l = e.propagatedFrom || e.layer, lls = l.getLatLngs(), cells = l.feature.properties.cells, hit = -1;
          for (var p = 0; p < lls.length && hit < 0; p++) {
            if (inRing(e.latlng.lat, e.latlng.lng, lls[p][0])) hit = cells[p];
          }
          if (hit < 0) return;
          openPopup(e.latlng, popupContent(spec, hit, spec.classes[l.feature.properties.k].label));
        });
      }
      register(o);   // over a GCJ-02 basemap the 'add' handler rebuilds it shifted (hidden layers: when shown)
      return layer;
    };

    // ---------------------------------------------------------------- image overlays (RSRP raster)
    // The image's columns are equally spaced in longitude and its rows in Web-Mercator y, so Leaflet's
    // linear stretch between the corners puts every pixel in place. Over GCJ-02 tiles the corners are
    // shifted (the offset varies by metres over a city, below a pixel).
    function rasterBounds(spec) {
      var b = spec.bounds, sw = ll(b[0], b[1]), ne = ll(b[2], b[3]);
      return L.latLngBounds(L.latLng(sw[0], sw[1]), L.latLng(ne[0], ne[1]));
    }
    state.addRaster = function (spec) {
      if (!map.getPane('rmRaster')) {
        var pane = map.createPane('rmRaster');   // above the tiles (200), below the vector overlays (400)
        pane.style.zIndex = 350;
        pane.style.pointerEvents = 'none';
      }
      var layer = L.imageOverlay(spec.url, rasterBounds(spec), {
        pane: 'rmRaster', opacity: spec.opacity === undefined ? 0.7 : spec.opacity, interactive: false,
        className: 'rm-raster', alt: spec.label
      });
      var o = {spec: spec, layer: layer, builtGcj: state.gcj, hidMetric: null};
      o.restyle = function () {};
      register(o);
      // A filled choropleth would tint the image: districts turn to outlines while it is shown, and back.
      function districts() { return overlays.filter(function (x) { return x.spec.kind === 'districts'; })[0]; }
      layer.on('add', function () {
        var d = districts();
        if (d && ui.metric[d.spec.id]) {
          o.hidMetric = ui.metric[d.spec.id];
          state.setDistrictMetric('', d.spec.id);
        }
      });
      layer.on('remove', function () {
        var d = districts();
        if (d && o.hidMetric && !ui.metric[d.spec.id]) state.setDistrictMetric(o.hidMetric, d.spec.id);
        o.hidMetric = null;
      });
      return layer;
    };

    // ---------------------------------------------------------------- canvas point layers
    function pointClasses(spec) {
      var mode = ui.stationMode[spec.id];
      if (mode === 'alt' && spec.alt) return {classes: spec.alt.classes, cls: spec.alt.cls};
      return {classes: spec.classes, cls: spec.cls};
    }
    // One canvas per layer, drawn as pixels: 35,000+ points redraw in a few
    // milliseconds. The canvas ignores the mouse; clicks and hover are hit-tested
    // here (see pointHit).
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
        this.reproject();
        this.restyle();
      },
      reproject: function () {
        var spec = this.spec;
        for (var i = 0; i < this.n; i++) {
          var p = ll(spec.x[i] / S, spec.y[i] / S), lat = Math.max(Math.min(p[0], 85.0511287798), -85.0511287798);
          this.lat[i] = p[0];
          this.lng[i] = p[1];
          this.wx[i] = (p[1] + 180) / 360;
          this.wy[i] = 0.5 - Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360)) / (2 * Math.PI);
        }
        if (this._map) this._draw();
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
        m.on('moveend resize', this._reset, this);   // a zoom fires viewreset and then moveend: draw once
        m.on('zoomanim', this._animateZoom, this);
        this._reset();
      },
      onRemove: function (m) {
        L.DomUtil.remove(this._canvas);
        m.off('moveend resize', this._reset, this);
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
        openPopup(this.latLngOf(i), popupContent(this.spec, i), [0, -Math.round(this.radiusOf(i))]);
      },
      rmCount: function () {
        var weighted = 0, w = this.spec.w;
        for (var i = 0; i < this.n; i++) weighted += w ? w[i] : 1;
        return {features: this.n, weighted: weighted};
      }
    });

    state.addPoints = function (spec) {
      if (spec.alt) ui.stationMode[spec.id] = 'main';
      var layer = new PointsLayer(spec, overlays.length);
      var o = {spec: spec, layer: layer, builtGcj: state.gcj};
      o.restyle = function () { layer.restyle(); };
      register(o);
      return layer;
    };

    // which point is under the mouse: the top-most visible points layer first
    function pointHit(cp) {
      for (var k = overlays.length - 1; k >= 0; k--) {
        var o = overlays[k];
        if (o.spec.kind !== 'points' || !map.hasLayer(o.layer)) continue;
        var i = o.layer.hitTest(cp, 3);
        if (i >= 0) return {o: o, i: i};
      }
      return null;
    }
    map.on('preclick', function (e) { clickHit = pointHit(e.containerPoint); });
    map.on('click', function () {
      if (clickHit) clickHit.o.layer.openPopupFor(clickHit.i);
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
    map.on('zoomend', function () {
      // Points shrink when zoomed out, so that dense areas stay readable; the point
      // layers redraw on the 'moveend' that follows.
      ui.radiusScale = radiusScaleFor(map.getZoom());
      overlays.forEach(function (o) { if (o.rescale) o.rescale(); });
    });

    // ---------------------------------------------------------------- basemap datum
    function setGcj(want) {
      want = !!(want && shift);
      if (want === state.gcj) return;
      state.gcj = want;
      overlays.forEach(function (o) { if (map.hasLayer(o.layer)) rebuild(o); });   // hidden ones: when shown
      overlays.forEach(function (o) { if (map.hasLayer(o.layer)) restack(o); });
      map.closePopup();
    }
    map.on('baselayerchange', function (e) { setGcj(gcjByStamp[L.Util.stamp(e.layer)]); });
    state.setBasemap = function (id) {
      var target = baseById[id];
      if (!target) return false;
      Object.keys(baseById).forEach(function (k) {
        if (k !== id && map.hasLayer(baseById[k])) map.removeLayer(baseById[k]);
      });
      if (!map.hasLayer(target)) map.addLayer(target);  // the layer control fires baselayerchange
      setGcj(gcjByStamp[L.Util.stamp(target)]);
      return true;
    };

    // ---------------------------------------------------------------- controls
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

    state.setDistrictMetric = function (metricId, layerId) {
      var o = layerId ? state.layers[layerId] : overlays.filter(function (x) { return x.spec.kind === 'districts'; })[0];
      if (!o) return;
      ui.metric[o.spec.id] = metricId || null;
      o.restyle();
      var inputs = mapEl.querySelectorAll('.rm-options input[type=radio]');   // keep the options in step
      for (var k = 0; k < inputs.length; k++) {
        if (inputs[k].name === 'rm-metric-' + o.spec.id) inputs[k].checked = inputs[k].value === (metricId || '');
      }
      updateLegend();
    };
    state.setStationColour = function (mode, layerId) {
      var o = state.layers[layerId || 'stations'];
      if (!o) return;
      ui.stationMode[o.spec.id] = mode === 'alt' ? 'alt' : 'main';
      o.restyle();
      updateLegend();
    };

    function legendRow(parent, sw, text) {
      var row = el('div', 'rm-legend-row');
      row.appendChild(sw);
      row.appendChild(el('span', null, text));
      parent.appendChild(row);
    }
    function updateLegend() {
      if (!legendBody) return;
      legendBody.textContent = '';
      overlays.forEach(function (o) {
        if (!map.hasLayer(o.layer)) return;
        var spec = o.spec, sec = el('div', 'rm-legend-section');
        if (spec.kind === 'districts') {
          var m = metricSpec(spec);
          sec.appendChild(el('div', 'rm-legend-title', spec.label + (m ? ': ' + m.label : '')));
          if (m) {
            m.legend.forEach(function (row) { legendRow(sec, swatch('#333', row.color), row.label); });
          } else {
            legendRow(sec, swatch('#333', 'transparent'), 'district boundary');
          }
        } else if (spec.kind === 'points' || spec.kind === 'circles') {
          var pc = spec.kind === 'points' ? pointClasses(spec) : {classes: spec.classes, cls: spec.cls};
          var cc = classCounts(pc.cls, spec.w, pc.classes.length);
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
        } else if (spec.kind === 'raster') {
          sec.appendChild(el('div', 'rm-legend-title', spec.label));
          spec.classes.forEach(function (c) {
            if (!c.n) return;
            legendRow(sec, swatch('#777', c.color), c.label + ' (' + nf0.format(c.n) + ' points)');
          });
        } else if (spec.kind === 'lines') {
          var line = el('span', 'rm-swatch rm-line');
          line.style.borderColor = spec.color;
          legendRow(sec, line, spec.label);
        }
        if (spec.note) sec.appendChild(el('div', 'rm-legend-note', spec.note));
        legendBody.appendChild(sec);
      });
      fitLegend();
    }
    state.updateLegend = updateLegend;

    // the legend (bottom right) scrolls within the room the top-right controls leave it, so the two never
    // overlap on a short window (CSS alone caps it at 45vh, which overlaps when the layer list is long)
    function fitLegend() {
      if (!legendDiv) return;
      var box = map.getContainer().getBoundingClientRect();
      var top = map.getContainer().querySelector('.leaflet-top.leaflet-right');
      var above = top ? top.getBoundingClientRect().bottom : box.top;   // the legend's bottom edge stays put
      var room = legendDiv.getBoundingClientRect().bottom - above - 10;
      legendDiv.style.maxHeight = Math.max(120, Math.min(box.height * 0.45, room)) + 'px';
    }

    state.legend = function (position) {
      return control(position || 'bottomright', 'rm-legend', function (div) {
        legendDiv = div;
        legendBody = el('div');
        div.appendChild(legendBody);
        tileNote = el('div', 'rm-tile-note',
                      'Basemap tiles could not be loaded (offline?). The plan layers are not affected.');
        tileNote.style.display = state.tileErrors ? 'block' : 'none';
        div.appendChild(tileNote);
        updateLegend();
      });
    };

    function optionsControl() {
      var optionOverlays = overlays.filter(function (o) {
        return (o.spec.kind === 'districts' && o.spec.metrics && o.spec.metrics.length) ||
               (o.spec.kind === 'points' && o.spec.alt);
      });
      if (!optionOverlays.length) return;
      control('topright', 'rm-options', function (div) {
        optionOverlays.forEach(function (o) {
          var spec = o.spec, box = el('div', 'rm-option-group');
          box.appendChild(el('div', 'rm-option-title', spec.label + ' coloured by'));
          if (spec.kind === 'districts') {
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

    state.start = function (layerControl) {
      state.layerControl = layerControl || null;
      if (layerControl && (window.innerWidth < 700 || window.innerHeight < 700)) {
        layerControl.options.collapsed = true;   // small screens: the control opens on tap/hover
        layerControl.remove();
        layerControl.addTo(map);
      }
      mapEl.setAttribute('role', 'application');
      mapEl.setAttribute('aria-label', cfg.title);
      var titleBox = el('div', 'rm-title');
      titleBox.appendChild(el('div', 'rm-title-main', cfg.title));
      if (cfg.subtitle) titleBox.appendChild(el('div', 'rm-title-sub', cfg.subtitle));
      mapEl.appendChild(titleBox);
      L.DomEvent.disableClickPropagation(titleBox);
      optionsControl();
      if (map.attributionControl) {
        map.attributionControl.setPrefix('<a href="https://leafletjs.com" title="Leaflet">Leaflet</a>');
      }
      document.addEventListener('fullscreenchange', function () { map.invalidateSize(); });
      map.on('resize', fitLegend);
      updateLegend();
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          state.ready = true;
          state.readyMs = performance.now();
          mapEl.dataset.ready = '1';
          // Layers hidden at first get their shapes after the first draw, so that their counts
          // are known and switching them on is instant, without delaying the page.
          setTimeout(function () {
            overlays.forEach(function (o) { if (o.pending) rebuild(o); });
            state.allBuilt = true;
            mapEl.dataset.allBuilt = '1';
          }, 0);
        });
      });
      return state;
    };
    return state;
  }
})();
