import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CreddyClientOptions, type CreddyError, createCreddyClient, isCreddyError } from '../../src/client/index.js';

/**
 * `createCreddyClient` checks its options when it is called: a bad one is `ERR_USAGE` naming the
 * option, never a confusing failure (or an issuance never delivered) at the first call. And no
 * message the client writes carries a URL's user info.
 */
const TOKEN = `ckr_${'t'.repeat(43)}`;

/** The error `create` throws (or undefined). */
function creationError(options: CreddyClientOptions): CreddyError | undefined {
  try {
    createCreddyClient(options);
    return undefined;
  } catch (err) {
    expect(isCreddyError(err), String(err)).toBe(true);
    return err as CreddyError;
  }
}

describe('createCreddyClient options', () => {
  let url = '';
  let server: Server;
  let requests = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('refuses a URL with user info, without repeating it', () => {
    for (const withCredentials of [
      'http://u:p4ssw0rd@127.0.0.1:8411',
      'http://p4ssw0rd@127.0.0.1:8411',
      'HTTPS://u:p4ssw0rd@creddy.example',
    ]) {
      const err = creationError({ url: withCredentials, auth: TOKEN });
      expect(err).toMatchObject({ code: 'ERR_USAGE', details: { option: 'options.url' } });
      expect(err?.message).toMatch(/^options\.url must not carry credentials/);
      expect(err?.message).not.toContain('p4ssw0rd');
    }
  });

  it('parses the URL: the option is named, not CREDDY_URL; query and fragment refused; any case of scheme', () => {
    const notAUrl = creationError({ url: 'not a url', auth: TOKEN });
    expect(notAUrl).toMatchObject({ code: 'ERR_USAGE', details: { option: 'options.url' } });
    expect(notAUrl?.message).toMatch(/^options\.url must be an http\(s\) URL/);
    expect(notAUrl?.message).not.toContain('CREDDY_URL');
    expect(creationError({ url: 'ftp://creddy.example', auth: TOKEN })?.code).toBe('ERR_USAGE');
    for (const extra of ['?x=1', '#f', '/?']) {
      const err = creationError({ url: `${url}${extra}`, auth: TOKEN });
      expect(err, extra).toMatchObject({ code: 'ERR_USAGE', details: { option: 'options.url' } });
      expect(err?.message).toMatch(/without a query or fragment/);
    }
    const upper = createCreddyClient({ url: url.replace('http://', 'HTTP://'), auth: TOKEN });
    expect(upper.url).toBe(url);
    expect(createCreddyClient({ url: `${url}//`, auth: TOKEN }).url).toBe(url);
  });

  it('refuses a timeout or size cap that cannot work, naming the option, before any request', async () => {
    for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      const err = creationError({ url, auth: TOKEN, timeoutMs });
      expect(err, String(timeoutMs)).toMatchObject({ code: 'ERR_USAGE', details: { option: 'options.timeoutMs' } });
      expect(err?.message).toMatch(/^options\.timeoutMs /);
    }
    for (const maxResponseBytes of [-5, 0, 1.5, Number.NaN, 100]) {
      const err = creationError({ url, auth: TOKEN, maxResponseBytes });
      expect(err, String(maxResponseBytes)).toMatchObject({ code: 'ERR_USAGE', details: { option: 'options.maxResponseBytes' } });
    }
    expect(creationError({ url, auth: TOKEN, fetch: 'no' as unknown as typeof fetch })?.code).toBe('ERR_USAGE');
    expect(requests).toBe(0);
    expect(creationError({ url, auth: TOKEN, timeoutMs: 5000, maxResponseBytes: 4096 })).toBeUndefined();
  });

  it('auth given but empty (an unset variable) fails at creation naming options.auth; left out, public calls only', async () => {
    for (const auth of ['', undefined]) {
      const err = creationError({ url, auth });
      expect(err, String(auth)).toMatchObject({ code: 'ERR_USAGE', details: { option: 'options.auth' } });
      expect(err?.message).toMatch(/^options\.auth is empty/);
    }
    expect(creationError({ url, token: undefined })?.code).toBe('ERR_USAGE');
    expect(creationError({ url, auth: { type: 'bearer', token: '' } })?.code).toBe('ERR_USAGE');
    const anonymous = createCreddyClient({ url });
    const before = requests;
    const err = await anonymous.list().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_USAGE', details: { option: 'options.auth' } });
    expect((err as Error).message).toMatch(/no options\.auth/);
    expect((err as Error).message).not.toContain('CREDDY_TOKEN');
    expect(requests).toBe(before);
  });

  it('no message names a URL with user info: not the issuer option, not a library error quoting one', async () => {
    const issuer = creationError({ url, issuer: 'http://u:s3cr3t@127.0.0.1:8400', auth: TOKEN });
    expect(issuer).toMatchObject({ code: 'ERR_USAGE', details: { option: 'options.issuer' } });
    expect(issuer?.message).not.toContain('s3cr3t');
    // A fetch whose refusal quotes the URL with credentials, as undici's does for a Request.
    const quoting: typeof fetch = async () => {
      throw new TypeError('Request cannot be constructed from a URL that includes credentials: http://u:s3cr3t@127.0.0.1:8400/x');
    };
    const err = await createCreddyClient({ url, auth: TOKEN, fetch: quoting })
      .issue({ backend: 'demo' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_NOT_READY' });
    expect((err as Error).message).not.toContain('s3cr3t');
  });
});
