/* Clientside functions of the dashboard (dash_clientside.cityscreen.*). */
(function () {
    'use strict';

    const LABELS = 'labels'; // dashboard/components/map_figure.py: the labels trace's name
    // The labels traces already appended (or being appended) to a figure: a refresh Patch
    // arriving while the map still draws re-runs showLabels with the same pending trace.
    const appended = new WeakSet();

    // The MapLibre map of the dcc.Graph `graphId`, once Plotly has created it.
    function mapOf(graphId) {
        const gd = document.querySelector('#' + graphId + ' .js-plotly-plot');
        const sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
        return sub && sub.map;
    }

    // Whether Plotly has added its traces' layers to `map` (ids 'plotly-trace-layer-…').
    // Before that the map fires `load` and even `idle` with only the base style in it:
    // waiting for those alone let the charts and labels in ahead of the polygons.
    function hasTraces(map) {
        return map.getLayersOrder().some(function (id) {
            return id.indexOf('plotly-trace-layer-') === 0;
        });
    }

    // Resolves once the map of `graphId` has drawn its traces' sources (all loaded, not
    // moving), or after `patienceMs` (a page without a map, or one that never drew: go
    // ahead anyway).
    function afterFirstDraw(graphId, patienceMs) {
        return new Promise(function (resolve) {
            const started = Date.now();
            (function wait() {
                const map = mapOf(graphId);
                if (map && hasTraces(map) && map.loaded() && !map.isMoving()) {
                    requestAnimationFrame(function () { resolve(); });
                } else if (Date.now() - started > patienceMs) {
                    resolve();
                } else {
                    setTimeout(wait, map ? 30 : 50);
                }
            })();
        });
    }

    // --- Wall scale -----------------------------------------------------------------------
    // The pages are designed for 1920×1080 and their CSS scales with the viewport height (vh,
    // and --px in cityscreen.css). A figure's sizes are pixels, so on a 3840×2160 wall (100 %
    // zoom, device pixel ratio 1) the charts kept 1080p fonts and the map showed the city at
    // half size. Every figure is scaled here, on its way into Plotly.react, by the same factor
    // as the CSS: innerHeight / 1080, never below 1 (1080p figures are passed on untouched).
    // - Sizes (fonts, margins, line widths, marker and label sizes, colour bar) x factor;
    //   the map's zoom + log2(factor): the same view, drawn natively at the wall's resolution
    //   (CSS `zoom` was measured: the WebGL canvas stays at the smaller size, upscaled blurry,
    //   and the vh-sized layout doubles again).
    // - Before the first draw (no second full draw), and the same numbers on every later
    //   Plotly.react: a refresh Patch of values finds the layout unchanged (no relayout),
    //   and `uirevision` keeps the user's own pan/zoom. Clicks carry unit codes, not pixels.
    // - The factor is taken once per page load (the wall's size does not change; a resize
    //   lays out the CSS anew and the next load scales the figures to match).
    const BASE_HEIGHT = 1080;
    let wallScale = null;

    function scaleFactor() {
        if (wallScale === null) {
            wallScale = Math.max(1, (window.innerHeight || BASE_HEIGHT) / BASE_HEIGHT);
        }
        return wallScale;
    }

    // Pixel sizes (paths below a trace / the layout / an axis / a colour bar); a size that is
    // not set inherits a scaled one (e.g. tick labels inherit layout.font) unless its default
    // is listed in *_DEFAULTS.
    const TRACE_SIZES = ['line.width', 'marker.size', 'marker.line.width', 'textfont.size',
        'radius', 'insidetextfont.size', 'outsidetextfont.size', 'hoverlabel.font.size'];
    const COLORBAR_SIZES = ['thickness', 'tickfont.size', 'title.font.size', 'ticklen',
        'tickwidth', 'outlinewidth', 'borderwidth', 'xpad', 'ypad'];
    const COLORBAR_DEFAULTS = {thickness: 30, xpad: 10, ypad: 10};
    const LAYOUT_SIZES = ['font.size', 'title.font.size', 'legend.font.size',
        'legend.title.font.size', 'legend.itemwidth', 'legend.tracegroupgap',
        'legend.borderwidth', 'margin.l', 'margin.r', 'margin.t', 'margin.b', 'margin.pad',
        'hoverlabel.font.size'];
    const LAYOUT_DEFAULTS = {'font.size': 12, 'hoverlabel.font.size': 13, 'legend.itemwidth': 30};
    const AXIS_SIZES = ['tickfont.size', 'title.font.size', 'title.standoff', 'ticklen',
        'tickwidth', 'gridwidth', 'zerolinewidth', 'linewidth'];
    const ANNOTATION_SIZES = ['font.size', 'borderwidth', 'borderpad', 'xshift', 'yshift'];
    const AXIS = /^[xy]axis\d*$/;

    function isObj(v) {
        return v !== null && typeof v === 'object' && !Array.isArray(v);
    }

    function getIn(obj, keys) {
        let v = obj;
        for (let i = 0; i < keys.length && v !== undefined; i++) {
            v = isObj(v) ? v[keys[i]] : undefined;
        }
        return v;
    }

    // A copy of `obj` with the number at `path` x f (copies along the path only: the data
    // arrays and the geometry stay the very objects Dash holds, which Plotly.react compares).
    function scaleAt(obj, path, f, dflt) {
        const keys = path.split('.');
        const v = getIn(obj, keys);
        const base = typeof v === 'number' ? v : (v === undefined ? dflt : undefined);
        if (typeof base !== 'number') {
            return obj;
        }
        const top = Object.assign({}, obj);
        let node = top;
        for (let i = 0; i < keys.length - 1; i++) {
            node[keys[i]] = Object.assign({}, isObj(node[keys[i]]) ? node[keys[i]] : {});
            node = node[keys[i]];
        }
        node[keys[keys.length - 1]] = base * f;
        return top;
    }

    function scaleAll(obj, paths, f, defaults) {
        if (!isObj(obj)) {
            return obj;
        }
        return paths.reduce(function (o, p) {
            return scaleAt(o, p, f, defaults && defaults[p]);
        }, obj);
    }

    function scaleTrace(trace, f) {
        if (!isObj(trace)) {
            return trace;
        }
        let t = scaleAll(trace, TRACE_SIZES, f);
        if (isObj(t.colorbar)) {
            t = Object.assign({}, t, {colorbar: scaleAll(t.colorbar, COLORBAR_SIZES, f,
                                                         COLORBAR_DEFAULTS)});
        }
        return t;
    }

    // The layout's own sizes, its axes', annotations' and (template) trace defaults'.
    function scaleLayoutPart(layout, f, defaults) {
        let l = scaleAll(layout, LAYOUT_SIZES, f, defaults);
        Object.keys(l).forEach(function (k) {
            if (AXIS.test(k) && isObj(l[k])) {
                l[k] = scaleAll(l[k], AXIS_SIZES, f);
            }
        });
        if (Array.isArray(l.annotations)) {
            l.annotations = l.annotations.map(function (a) {
                return scaleAll(a, ANNOTATION_SIZES, f);
            });
        }
        return l;
    }

    function scaleLayout(layout, f) {
        if (!isObj(layout)) {
            return layout;
        }
        const tpl = isObj(layout.template) ? layout.template : null;
        const fontSet = typeof getIn(layout, ['font', 'size']) === 'number' ||
            typeof getIn(tpl, ['layout', 'font', 'size']) === 'number';
        const hoverSet = typeof getIn(layout, ['hoverlabel', 'font', 'size']) === 'number' ||
            typeof getIn(tpl, ['layout', 'hoverlabel', 'font', 'size']) === 'number';
        const defaults = {'legend.itemwidth': LAYOUT_DEFAULTS['legend.itemwidth']};
        if (!fontSet) { defaults['font.size'] = LAYOUT_DEFAULTS['font.size']; }
        if (!hoverSet) { defaults['hoverlabel.font.size'] = LAYOUT_DEFAULTS['hoverlabel.font.size']; }
        const l = scaleLayoutPart(layout, f, defaults);
        if (tpl) {
            const data = {};
            Object.keys(tpl.data || {}).forEach(function (type) {
                const list = tpl.data[type];
                data[type] = Array.isArray(list) ? list.map(function (t) {
                    return scaleTrace(t, f);
                }) : list;
            });
            l.template = Object.assign({}, tpl, {
                layout: isObj(tpl.layout) ? scaleLayoutPart(tpl.layout, f, {}) : tpl.layout,
                data: data,
            });
        }
        if (isObj(l.map) && typeof l.map.zoom === 'number') {
            l.map = Object.assign({}, l.map, {zoom: l.map.zoom + Math.log2(f)});
        }
        return l;
    }

    // Plotly picks a linear axis's tick count from its length in pixels (length / 40 px for
    // y, / 80 px for x, 4..9, + 1): twice as long, twice the ticks (the 24 h trend's y axis
    // went from every 100 to every 50). The count the 1080p length gives is set as the axis's
    // nticks, so the wall shows about the same ticks. Approximate: nticks is an integer and
    // the length is estimated before the draw from the margins (a legend's push is not
    // known yet), so near a step the wall may show one tick step more or less than 1080p.
    // Category axes count by font size, which scales already.
    function linearNticks(layout, data, gd) {
        if (!gd || !gd.clientWidth || !gd.clientHeight || !isObj(layout)) {
            return layout;
        }
        const f = scaleFactor();
        const m = layout.margin || {};
        let out = layout;
        ['x', 'y'].forEach(function (letter) {
            const key = letter + 'axis';
            const ax = isObj(layout[key]) ? layout[key] : {};
            if (ax.nticks || ax.dtick || (ax.tickmode && ax.tickmode !== 'auto') ||
                    (ax.type && ax.type !== 'linear') || !numericOn(letter, data)) {
                return;
            }
            const len = letter === 'y'
                ? gd.clientHeight - (m.t === undefined ? 100 : m.t) - (m.b === undefined ? 80 : m.b)
                : gd.clientWidth - (m.l === undefined ? 80 : m.l) - (m.r === undefined ? 80 : m.r);
            const minPx = letter === 'y' ? 40 : 80;
            const nt = Math.min(9, Math.max(4, len / f / minPx)) + 1;
            out = Object.assign({}, out);
            out[key] = Object.assign({}, ax, {nticks: Math.round(nt)});
        });
        return out;
    }

    // Whether the traces plot numbers along `letter` (an axis Plotly would type linear).
    function numericOn(letter, data) {
        const traces = (data || []).filter(function (t) {
            return isObj(t) && (t.type === 'scatter' || t.type === 'bar');
        });
        if (!traces.length) {
            return false;
        }
        return traces.every(function (t) {
            const v = t[letter];
            const first = Array.isArray(v) ? v.find(function (x) { return x !== null; }) : undefined;
            return typeof first === 'number';
        });
    }

    // The figure as drawn at scale f: a new {data, layout, ...}; the input is left as it is.
    function scaleFigure(figure, f, gd) {
        if (!figure || f === 1) {
            return figure;
        }
        const data = Array.isArray(figure.data) ? figure.data.map(function (t) {
            return scaleTrace(t, f);
        }) : figure.data;
        return Object.assign({}, figure, {
            data: data,
            layout: linearNticks(scaleLayout(figure.layout, f), data, gd),
        });
    }

    // Plotly.react / newPlot take (gd, figure) or (gd, data, layout, config).
    function scaledCall(fn) {
        return function (gd, a, b, c) {
            const f = scaleFactor();
            if (f === 1) {
                return fn.apply(this, arguments);
            }
            if (Array.isArray(a) || b !== undefined) {
                const fig = scaleFigure({data: a, layout: b}, f, gd);
                return fn.call(this, gd, fig.data, fig.layout, c);
            }
            return fn.call(this, gd, scaleFigure(a, f, gd));
        };
    }

    function withScaledFigures(P) {
        if (!P || P.__cityscreenScaled) {
            return P;
        }
        // plotly's exports may be getters: a thin object over it, not assignments into it
        return Object.create(P, {
            react: {value: scaledCall(P.react), enumerable: true},
            newPlot: {value: scaledCall(P.newPlot), enumerable: true},
            __cityscreenScaled: {value: true},
        });
    }

    // plotly.js is loaded after this file (dashboard/app.py) and sets window.Plotly; dcc.Graph
    // calls window.Plotly.react.
    if (window.Plotly) {
        window.Plotly = withScaledFigures(window.Plotly);
    } else {
        let plotly;
        Object.defineProperty(window, 'Plotly', {
            configurable: true, enumerable: true,
            get: function () { return plotly; },
            set: function (P) { plotly = withScaledFigures(P); },
        });
    }
    window.cityscreenWall = {scale: scaleFactor};

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        cityscreen: {
            // The overview map's unit labels are not in its first figure (MapLibre lays out
            // CJK glyphs locally and would hold back the polygons; a trace is four more
            // sources to load): their trace waits in layout.meta.labels and is appended once
            // the polygons are on screen. The figure in Dash's store then has it; refresh
            // Patches address the other traces by index and leave it alone.
            showLabels: function (figure) {
                const noUpdate = window.dash_clientside.no_update;
                const meta = figure && figure.layout && figure.layout.meta;
                const labels = meta && meta.labels;
                if (!labels || appended.has(labels) ||
                        (figure.data || []).some(function (t) { return t.name === LABELS; })) {
                    return noUpdate;
                }
                appended.add(labels);
                return afterFirstDraw('map', 30000).then(function () {
                    return new window.dash_clientside.Patch().append(['data'], labels).build();
                });
            },
            // The trend charts' figures wait in a store until the map has drawn (plotting
            // them first kept the main thread from the map); refreshes patch the store.
            showCharts: function (charts) {
                if (!charts) {
                    return [window.dash_clientside.no_update, window.dash_clientside.no_update,
                            window.dash_clientside.no_update];
                }
                return afterFirstDraw('map', 30000).then(function () {
                    return [charts.t24, charts.t30, charts.cat];
                });
            },
        },
    });
})();
