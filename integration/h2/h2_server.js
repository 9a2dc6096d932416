// h2_server.js -- a plain HTTP/2 (h2c) backend for the HTTP/1.1-client
// cases: answers with what it saw (":authority", path, selected headers,
// body length) as JSON; /big?size=N sends N bytes; /trailers adds a
// trailer field.
//   node h2_server.js PORT
'use strict';
const http2 = require('http2');

const port = Number(process.argv[2]);
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  let n = 0;
  stream.on('data', (d) => { n += d.length; });
  stream.on('end', () => {
    const url = new URL(headers[':path'], 'http://x');
    if (url.pathname === '/big') {
      const size = Number(url.searchParams.get('size'));
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(65536, 120);
      let left = size;
      const pump = () => {
        while (left > 0) {
          const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= part.length;
          if (!stream.write(part)) { stream.once('drain', pump); return; }
        }
        stream.end();
      };
      pump();
      return;
    }
    const body = JSON.stringify({
      authority: headers[':authority'],
      path: headers[':path'],
      method: headers[':method'],
      xff: headers['x-forwarded-for'] || '',
      connection: headers.connection || '',
      te: headers.te || '',
      bytes: n,
    }) + '\n';
    const trailers = url.pathname === '/trailers';
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-h2-backend': '1' },
      { waitForTrailers: trailers });
    if (trailers) stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
    stream.end(body);
  });
});
server.listen(port, '127.0.0.1', () => console.log('ready'));
