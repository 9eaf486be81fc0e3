import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { isCreddyError } from '../../src/errors.js';
import { demoYaml, startBroker, type TestBroker } from '../helpers/harness.js';

/** Inputs an attack on the landed code got through, and the refusals that now stop them (issue 14). */
describe('hostile request bodies', () => {
  let broker: TestBroker;
  let token: string;
  const post = async (body: string, contentType = 'application/json') => {
    const response = await fetch(`${broker.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
      body,
    });
    return {
      status: response.status,
      body: (await response.json()) as { error?: { code: string; details?: { field?: string } } } & Record<string, unknown>,
    };
  };

  beforeAll(async () => {
    broker = await startBroker();
    token = await broker.agent('hostile', 'demo:read');
  });
  afterAll(async () => broker.stop());

  it.each(['__proto__', 'constructor', 'prototype'])('a metadata key %s is refused with 400, not silently dropped', async (key) => {
    const result = await post(`{"backend":"demo","metadata":{"${key}":"x","task":"t"}}`);
    expect(result.status).toBe(400);
    expect(result.body.error).toMatchObject({ code: 'ERR_BAD_REQUEST', details: { field: key } });
  });

  it('a nested __proto__ anywhere in the body is refused', async () => {
    const result = await post('{"backend":"demo","scopes":["read"],"x":{"__proto__":{"admin":true}}}');
    expect(result.status).toBe(400);
  });

  it.each([
    ['application/json-patch+json', 415],
    ['application/json; charset=utf-16', 415],
    ['application/json; charset=iso-8859-1', 415],
    ['application/jsonx', 415],
    ['text/plain', 415],
    ['application/json', 201],
    ['application/json; charset=UTF-8', 201],
    ['application/json;charset="utf-8"', 201],
  ])('content type %s → %i', async (type, status) => {
    expect((await post('{"backend":"demo","scopes":["read"]}', type)).status).toBe(status);
  });

  it.each([
    ['an agent token', `ckr_${'A'.repeat(43)}`],
    ['a GitHub token', `ghs_${'a'.repeat(36)}`],
    ['an AWS access key id', 'AKIAABCDEFGHIJKLMNOP'],
  ])('a metadata value that is %s is refused, naming the entry', async (_what, value) => {
    const result = await post(JSON.stringify({ backend: 'demo', metadata: { note: value } }));
    expect(result.status).toBe(400);
    expect(result.body.error?.details?.field).toBe('metadata.note');
    expect(JSON.stringify(result.body)).not.toContain(value);
  });

  it("the issuance's audit row carries the request's metadata", async () => {
    const result = await post(JSON.stringify({ backend: 'demo', scopes: ['read'], metadata: { task: 'update-readme', run: '42' } }));
    expect(result.status).toBe(201);
    const [row] = await broker.services.store.audit.query({ jti: result.body['id'] as string, type: 'credential.issued', limit: 1 });
    expect(row?.details?.['metadata']).toEqual({ task: 'update-readme', run: '42' });
  });
});

describe('hostile config keys', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('a YAML key %s is a config error naming its path', (key) => {
    const yaml = `${demoYaml({ dataDir: '/tmp/creddy-unused' })}\n    ${key}: {x: 1}\n`;
    try {
      parseConfig(yaml, '/tmp/creddy.yaml', {});
      expect.unreachable();
    } catch (err) {
      expect(isCreddyError(err, 'ERR_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain(`backends.demo.${key}`);
    }
  });
});
