// The least a Node CLI can do for `creddy get`: one POST with node:http, the token to stdout. No
// argument parsing, no client, no error handling. bench/cli-startup.mjs runs it beside `node -e 0`
// as the floor of what a `get` written in Node costs on the machine.
import { createRequire } from 'node:module';

// Not `import 'node:http'`: on Node 24 that alone loads undici (see src/cli/node-fetch.ts).
const { request } = createRequire(import.meta.url)('node:http');
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
