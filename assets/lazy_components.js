/* Component libraries loaded when first rendered (dashboard/app.py LAZY_LIBRARIES).
 *
 * The page leaves their bundles out and names them in #cityscreen-lazy. Until a page
 * renders one of their components, a stand-in namespace answers for them: its components
 * (plain props, no propTypes, so Dash's callback check passes) load the real bundle on
 * mount, then render the real component with the same props. The stand-ins stay in place
 * afterwards (the real module behind them), so a mounted component is never swapped for
 * another type and remounted.
 */
(function () {
    'use strict';

    const el = document.getElementById('cityscreen-lazy'); // dashboard/app.py LAZY_ID
    const lazy = el ? JSON.parse(el.textContent) : {};

    Object.keys(lazy).forEach(function (ns) {
        if (window[ns]) {
            return; // the page loaded the bundle itself
        }
        let real = null;
        let loading = null;
        const stubs = {};

        function load() {
            if (!loading) {
                loading = new Promise(function (resolve, reject) {
                    const s = document.createElement('script');
                    s.src = lazy[ns];
                    s.onload = function () {
                        real = window[ns];
                        window[ns] = proxy; // the bundle assigned its module over ours
                        resolve(real);
                    };
                    s.onerror = function () { loading = null; reject(new Error(ns)); };
                    document.head.appendChild(s);
                });
            }
            return loading;
        }

        function stub(type) {
            function Lazy(props) {
                const React = window.React;
                const state = React.useState(function () { return real && real[type]; });
                const Comp = state[0];
                const setComp = state[1];
                React.useEffect(function () {
                    if (!Comp) {
                        load().then(function (m) { setComp(function () { return m[type]; }); });
                    }
                }, []);
                return Comp ? React.createElement(Comp, props) : null;
            }
            Lazy.displayName = ns + '.' + type + ' (lazy)';
            return Lazy;
        }

        const proxy = new Proxy({}, {
            get: function (_, key) {
                if (typeof key !== 'string') {
                    return undefined;
                }
                if (stubs[key]) {
                    return stubs[key];
                }
                if (real) {
                    return real[key];
                }
                if (/^[A-Z]/.test(key)) { // a component type: answer with a stand-in
                    stubs[key] = stub(key);
                    return stubs[key];
                }
                return undefined;
            },
            has: function (_, key) {
                return Boolean(stubs[key] || (real && key in real));
            },
        });
        window[ns] = proxy;
    });
})();
