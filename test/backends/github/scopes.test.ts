/** The pure parts of the github backend: permission scopes and repository selection. */
import { describe, expect, it } from 'vitest';
import { permissionScopeProblem, toPermissions } from '../../../src/backends/github/permissions.js';
import { bareNames, selectRepositories } from '../../../src/backends/github/repositories.js';

const INSTALLATION = { contents: 'write', issues: 'read', administration: 'admin' };
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};

describe('github permission scopes', () => {
  it.each(['contents:read', 'issues:write', 'pull_requests:admin', 'contents:*'])('accepts %s', (scope) => {
    expect(permissionScopeProblem(scope)).toBeUndefined();
  });
  it.each(['contents', 'contents:', 'contents:owner', '*', 'cont*', 'Contents:read', 'contents:read:x'])('rejects %s', (scope) => {
    expect(permissionScopeProblem(scope)).toBeTypeOf('string');
  });

  it('keeps the highest granted level per permission and resolves * against the installation', () => {
    expect(toPermissions(['contents:read', 'contents:write', 'issues:*', 'administration:*'], INSTALLATION)).toEqual({
      contents: 'write',
      issues: 'read',
      administration: 'admin',
    });
  });

  it('refuses levels and permissions the installation does not have', () => {
    expect(code(() => toPermissions(['issues:write'], INSTALLATION))).toBe('ERR_SCOPE_DENIED');
    expect(code(() => toPermissions(['actions:*'], INSTALLATION))).toBe('ERR_SCOPE_DENIED');
  });
});

describe('github repository selection', () => {
  it('uses the whole installation without a ceiling or with OWNER/*', () => {
    expect(selectRepositories(undefined, undefined, 'acme')).toEqual({ all: true });
    expect(selectRepositories(undefined, ['ACME/*'], 'acme')).toEqual({ all: true });
  });

  it('uses the listed repositories of the installation account otherwise', () => {
    expect(selectRepositories(undefined, ['acme/a', 'other/b', 'acme/c'], 'acme')).toEqual({ all: false, fullNames: ['acme/a', 'acme/c'] });
    expect(code(() => selectRepositories(undefined, ['other/b'], 'acme'))).toBe('ERR_SCOPE_DENIED');
  });

  it('checks requested names against the ceiling and the account, case-insensitively, without duplicates', () => {
    expect(selectRepositories(['Acme/A', 'acme/a'], ['acme/a'], 'acme')).toEqual({ all: false, fullNames: ['Acme/A'] });
    expect(code(() => selectRepositories(['acme/b'], ['acme/a'], 'acme'))).toBe('ERR_SCOPE_DENIED');
    expect(code(() => selectRepositories(['other/a'], undefined, 'acme'))).toBe('ERR_SCOPE_DENIED');
    expect(code(() => selectRepositories([], undefined, 'acme'))).toBe('ERR_BAD_REQUEST');
    expect(code(() => selectRepositories(['acme/a/b'], undefined, 'acme'))).toBe('ERR_BAD_REQUEST');
    expect(code(() => selectRepositories([42], undefined, 'acme'))).toBe('ERR_BAD_REQUEST');
  });

  it('sends bare names, as GitHub wants', () => {
    expect(bareNames(['acme/a', 'acme/b.js'])).toEqual(['a', 'b.js']);
  });
});
