// The least a Node CLI can do for `creddy get`: one POST with node:http, the token to stdout. No
// argument parsing, no client, no error handling. bench/cli-startup.mjs runs it beside `node -e 0`
// as the floor of what a `get` written in Node costs on the machine. CommonJS, as the `creddy`
// bin is: an ES module entry starts Node's ES module loader too (~3 ms on Node 20).
const { request } = require('node:http');
const body = JSON.stringify({ backend: 'demo', scopes: ['read'] });
const req = request(`${process.env.CREDDY_URL}/v1/credentials`, {
  method: 'POST',
  headers: {
    authorization: `Bearer ${process.env.CREDDY_TOKEN}`,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  },
});
req.on('response', (res) => {
  let text = '';
  res.on('data', (chunk) => (text += chunk));
  res.on('end', () => process.stdout.write(`${JSON.parse(text).token}\n`));
});
req.end(body);
