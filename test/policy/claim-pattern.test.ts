import { describe, expect, it } from 'vitest';
import { claimPatternProblem, matchesClaimPattern, readClaim } from '../../src/policy/claim-pattern.js';
import { renderSubject, subjectTemplateProblem } from '../../src/policy/subject-template.js';

describe('claim patterns', () => {
  it.each([
    ['my-org/infra', 'my-org/infra', true],
    ['my-org/infra', 'my-org/Infra', false], // case-sensitive, no normalisation
    ['my-org/*', 'my-org/infra', true],
    ['my-org/*', 'my-org-evil/x', false], // a lookalike owner never matches
    ['my-org/*', 'my-org/a/b', false], // * stays within one segment
    ['my-org/*', 'my-org/', false], // * takes at least one character
    ['refs/heads/*', 'refs/heads/main', true],
    ['refs/heads/*', 'refs/heads/feature/x', false],
    ['refs/tags/v*', 'refs/tags/v1.2.3', true],
    ['refs/tags/v*', 'refs/tags/v', false],
    ['repo:my-org/*', 'repo:my-org/infra:environment:prod', false], // : is a separator too
    ['repo:my-org/*:environment:prod', 'repo:my-org/infra:environment:prod', true],
    ['system:serviceaccount:ci:*', 'system:serviceaccount:ci:deployer', true],
    ['system:serviceaccount:ci:*', 'system:serviceaccount:kube-system:admin', false],
    ['*-deploy', 'prod-deploy', true],
    ['a*c*e', 'abcde', true],
    ['a*c*e', 'ace', false],
  ])('%s against %s → %s', (pattern, value, expected) => {
    expect(matchesClaimPattern(pattern, value)).toBe(expected);
  });

  it('refuses patterns that would match anything, or ** ', () => {
    for (const pattern of ['*', '*/*', '*:*', '', 'a/**']) expect(claimPatternProblem(pattern)).toBeDefined();
    expect(claimPatternProblem('my-org/*')).toBeUndefined();
  });

  it('reads nested claims with a / path, and numbers and booleans as text; objects never', () => {
    const payload = {
      repository_owner_id: 1234567,
      ok: true,
      'kubernetes.io': { namespace: 'ci', serviceaccount: { name: 'd' } },
      obj: {},
    };
    expect(readClaim(payload, 'repository_owner_id')).toBe('1234567');
    expect(readClaim(payload, 'ok')).toBe('true');
    expect(readClaim(payload, 'kubernetes.io/namespace')).toBe('ci');
    expect(readClaim(payload, 'kubernetes.io/serviceaccount/name')).toBe('d');
    expect(readClaim(payload, 'obj')).toBeUndefined();
    expect(readClaim(payload, 'kubernetes.io')).toBeUndefined();
    expect(readClaim(payload, 'constructor')).toBeUndefined();
    expect(readClaim(payload, 'missing')).toBeUndefined();
  });
});

describe('subject templates', () => {
  it('needs a ":" outside placeholders, so a subject never equals an agent name', () => {
    expect(subjectTemplateProblem('{repository}')).toMatch(/":"/);
    expect(subjectTemplateProblem('gha:{repository}@{ref}')).toBeUndefined();
    expect(subjectTemplateProblem('gha:{repo')).toMatch(/unbalanced/);
    expect(subjectTemplateProblem('gha:{a b}')).toMatch(/not a claim name/);
  });

  it('renders from claims and refuses absent or odd values', () => {
    expect(renderSubject('gha:{repository}@{ref}', { repository: 'my-org/infra', ref: 'refs/heads/main' })).toEqual({
      subject: 'gha:my-org/infra@refs/heads/main',
    });
    expect(renderSubject('gha:{repository}', {})).toHaveProperty('problem');
    expect(renderSubject('gha:{repository}', { repository: 'a b' })).toHaveProperty('problem');
    expect(renderSubject('gha:{repository}', { repository: 'x'.repeat(300) })).toHaveProperty('problem');
  });
});
