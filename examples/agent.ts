/**
 * A key-pair agent. It holds an Ed25519 private key and no bearer secret: every call to the
 * broker carries a fresh client assertion (RFC 7523) that expires within a minute and is accepted
 * once, and the credentials it receives are bound to its key (DPoP, RFC 9449). Nothing it could
 * print — into a log, a transcript, a model's context — lets anyone else act as it.
 *
 * Register it once with the broker (the private key never leaves the file written here):
 *   creddy agent create report-bot --can internal-api:files:read --generate-key report-bot.pem
 *
 * Environment:
 *   CREDDY_URL             the broker, e.g. https://creddy.example.com
 *   CREDDY_ISSUER          its issuer, only when CREDDY_URL is another address of it (an internal
 *                          name): proofs are signed for this issuer, never for one the server names
 *   CREDDY_AGENT           the agent's name
 *   CREDDY_AGENT_KEY_FILE  its private key: PKCS#8 PEM or a private JWK
 *   CREDDY_BACKEND         the backend to ask (default internal-api)
 *   API_URL                the resource server (examples/resource-server.ts)
 */
import { readFile } from 'node:fs/promises';
import { type CreddyClient, createAgentSigner, createCreddyClient, createDpopProof, generateAgentKey } from 'creddy/client';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const keyText = await readFile(required('CREDDY_AGENT_KEY_FILE'), 'utf8');
const client: CreddyClient = createCreddyClient({
  url: required('CREDDY_URL'),
  // Without it the broker at CREDDY_URL must name CREDDY_URL as its issuer (ERR_ISSUER_MISMATCH otherwise).
  ...(process.env.CREDDY_ISSUER ? { issuer: process.env.CREDDY_ISSUER } : {}),
  auth: {
    type: 'key-pair',
    agent: required('CREDDY_AGENT'),
    // A PEM as it is; a JWK parsed. The key is checked here, before any request.
    privateKey: keyText.trimStart().startsWith('{') ? JSON.parse(keyText) : keyText,
  },
  // DPoP is on by default for key pairs: credentials are bound to this same key.
});

const api = required('API_URL');
const credential = { backend: process.env.CREDDY_BACKEND ?? 'internal-api', scopes: ['files:read'] };

// `fetch` gets a credential (cached and renewed before it expires) and sends it as
// `Authorization: DPoP <jwt>` with a new proof for this method and URL.
const response = await client.fetch(`${api}/files/report.txt`, { credential });
console.log(JSON.stringify({ status: response.status, body: await response.json() }));

// What a thief who copied the credential would get: the same credential from the cache, sent
// as a bearer token, and with a proof from a key of the thief's own.
const { token, token_type } = await client.get(credential.backend, { scopes: credential.scopes });
const url = `${api}/files/report.txt`;
const asBearer = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
const thief = await createAgentSigner((await generateAgentKey()).privateJwk);
const withOtherKey = await fetch(url, {
  headers: { authorization: `DPoP ${token}`, dpop: await createDpopProof(thief, { method: 'GET', url, accessToken: token }) },
});
console.log(JSON.stringify({ token_type, stolen: { as_bearer: asBearer.status, with_another_key: withOtherKey.status } }));
