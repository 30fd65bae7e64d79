/* Clientside functions of the dashboard (dash_clientside.cityscreen.*). */
(function () {
    'use strict';

    const LABELS = 4; // dashboard/components/map_figure.py: trace order

    // The MapLibre map of the dcc.Graph `graphId`, once Plotly has created it.
    function mapOf(graphId) {
        const gd = document.querySelector('#' + graphId + ' .js-plotly-plot');
        const sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
        return sub && sub.map;
    }

    // Resolves once the map of `graphId` has drawn its sources (MapLibre `idle`), or after
    // `patienceMs` without a map (a page that has none: show the labels anyway).
    function afterFirstDraw(graphId, patienceMs) {
        return new Promise(function (resolve) {
            const started = Date.now();
            (function wait() {
                const map = mapOf(graphId);
                if (map) {
                    if (map.loaded() && !map.isMoving()) {
                        requestAnimationFrame(function () { resolve(); });
                    } else {
                        map.once('idle', function () { resolve(); });
                    }
                } else if (Date.now() - started > patienceMs) {
                    resolve();
                } else {
                    setTimeout(wait, 50);
                }
            })();
        });
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        cityscreen: {
            // The overview map's unit labels start without text, their names in customdata
            // (MapLibre lays out CJK glyphs locally and would hold back the polygons): once
            // the polygons are on screen, a Patch copies the names into text. The figure in
            // Dash's store then has them, so later refresh Patches keep them.
            showLabels: function (figure) {
                const noUpdate = window.dash_clientside.no_update;
                const trace = figure && figure.data && figure.data[LABELS];
                const names = trace && trace.customdata;
                if (!trace || trace.name !== 'labels' || trace.visible === false ||
                        (trace.text && trace.text.length) || !names || !names.length) {
                    return noUpdate;
                }
                return afterFirstDraw('map', 30000).then(function () {
                    return new window.dash_clientside.Patch()
                        .assign(['data', LABELS, 'text'], Array.from(names)).build();
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
