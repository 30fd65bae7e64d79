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
