'use strict';
// serve.js: the HTTP side of the browser tests and of examples/webphone/: a static server for
// one folder, plus /jssip.js, JsSIP (npm, CommonJS only) bundled for a page by a tiny CommonJS
// loader, so no bundler is needed. Loopback only.
//
//   node spec/browser/serve.js [--root DIR] [--port N]     (defaults: examples/webphone, 8081)
//   const { serve } = require('./serve'); const s = await serve({ root, port: 0 }); s.url; s.close()
const fs = require('fs');
const http = require('http');
const path = require('path');

const MODULES = path.join(__dirname, 'node_modules');
const HOST = '127.0.0.1';

// The file a bare name resolves to: its package.json "browser" field (a string), else "main".
function packageEntry(name) {
  const dir = path.join(MODULES, name);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const entry = typeof pkg.browser === 'string' ? pkg.browser : pkg.main || 'index.js';
  return resolveFile(path.join(dir, entry));
}

function resolveFile(p) {
  for (const cand of [p, p + '.js', p + '.json', path.join(p, 'index.js')]) {
    if (fs.existsSync(cand) && fs.statSync(cand).isFile()) return cand;
  }
  throw new Error(`serve.js: cannot resolve ${p}`);
}

function resolve(from, name) {
  if (name.startsWith('.')) return resolveFile(path.resolve(path.dirname(from), name));
  const parts = name.split('/');
  const pkg = name.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const rest = name.slice(pkg.length + 1);
  return rest ? resolveFile(path.join(MODULES, pkg, rest)) : packageEntry(pkg);
}

// Every module reachable from entry by require('literal'), wrapped as a function of
// (module, exports, require) and keyed by a number; the page's require maps names to numbers.
function bundle(entry, global) {
  const ids = new Map();
  const out = [];
  const visit = (file) => {
    if (ids.has(file)) return ids.get(file);
    const id = ids.size;
    ids.set(file, id);
    let src = fs.readFileSync(file, 'utf8');
    const deps = {};
    if (file.endsWith('.json')) {
      src = `module.exports = ${src};`;
    } else {
      for (const m of src.matchAll(/\brequire\(\s*'([^']+)'\s*\)|\brequire\(\s*"([^"]+)"\s*\)/g)) {
        const name = m[1] || m[2];
        if (!(name in deps)) deps[name] = visit(resolve(file, name));
      }
    }
    out[id] = `[function (module, exports, require) {\n${src}\n}, ${JSON.stringify(deps)}]`;
    return id;
  };
  visit(entry);
  return `(function () {
var defs = [\n${out.join(',\n')}\n], cache = {};
function load(id) {
  if (cache[id]) return cache[id].exports;
  var module = cache[id] = { exports: {} };
  var deps = defs[id][1];
  defs[id][0](module, module.exports, function (name) {
    if (!(name in deps)) throw new Error('jssip.js: module not bundled: ' + name);
    return load(deps[name]);
  });
  return module.exports;
}
window.process = window.process || { env: {} };
window[${JSON.stringify(global)}] = load(0);
})();
`;
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };

// Resolves with { url, port, close() } once the server listens on 127.0.0.1.
function serve({ root, port = 0 } = {}) {
  root = path.resolve(root || path.join(__dirname, '../../examples/webphone'));
  const jssip = bundle(resolve(__filename, 'jssip'), 'JsSIP');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${HOST}`);
    let body = null;
    let type = 'text/javascript';
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (url.pathname === '/jssip.js') {
      body = jssip;
    } else {
      const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
      const file = path.resolve(root, rel);
      if (file.startsWith(root + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile()) {
        body = fs.readFileSync(file);
        type = TYPES[path.extname(file)] || 'application/octet-stream';
      }
    }
    if (body === null) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end(`not found: ${url.pathname}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(body);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, HOST, () => {
      const p = server.address().port;
      ok({ url: `http://${HOST}:${p}/`, port: p, close: () => new Promise((done) => server.close(done)) });
    });
  });
}

module.exports = { serve, bundle };

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  serve({ root: opt('--root'), port: Number(opt('--port', 8081)) }).then(
    (s) => console.log(`webphone: open ${s.url} (serving ${opt('--root', 'examples/webphone')}; Ctrl-C stops)`),
    (e) => {
      console.error(`serve.js: ${e.message}`);
      process.exit(1);
    },
  );
}
