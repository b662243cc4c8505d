'use strict';
// bridge.js: TCP ports of 127.0.0.1 carried into a network namespace that has only lo (where
// chromium-loopback.sh runs the browser), one Unix socket per port in a directory both sides
// see. Bytes pass unchanged, one Unix connection per TCP connection, so a server outside sees
// each of the browser's connections as one connection from 127.0.0.1.
//
//   outside (run.js):  const b = outside(dir, [port...]); ... b.close()
//   inside:            node bridge.js DIR PORT...   (listens on 127.0.0.1:PORT, then writes DIR/ready)
const fs = require('fs');
const net = require('net');
const path = require('path');

const sock = (dir, port) => path.join(dir, `${port}.sock`);

// Pipe a and b both ways; either end closing or failing closes the other.
function splice(a, b) {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}

// Unix sockets in dir, each connected to 127.0.0.1:port in this namespace.
function outside(dir, ports) {
  const servers = ports.map((port) =>
    net.createServer((c) => splice(c, net.connect(port, '127.0.0.1'))).listen(sock(dir, port)),
  );
  return { close: () => servers.forEach((s) => s.close()) };
}

// 127.0.0.1:port in this namespace, each connected to its Unix socket in dir.
// Writes dir/ready once every port listens.
function inside(dir, ports) {
  let left = ports.length;
  const ready = () => {
    if (--left <= 0) fs.writeFileSync(path.join(dir, 'ready'), '');
  };
  if (!left) ready();
  for (const port of ports) {
    net.createServer((c) => splice(c, net.connect(sock(dir, port)))).listen(port, '127.0.0.1', ready);
  }
}

module.exports = { outside };

if (require.main === module) {
  const [dir, ...ports] = process.argv.slice(2);
  inside(dir, ports.map(Number));
  process.on('SIGTERM', () => process.exit(0));
}
