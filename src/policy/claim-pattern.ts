/**
 * Claim patterns of federation rules: an exact value, or a glob whose `*` stands for one or more
 * characters inside one segment. Segments are separated by `/` and `:`, so a `*` never crosses
 * one: `my-org/*` matches `my-org/infra` but neither `my-org-evil/x` (the literal `my-org/` must
 * be there) nor `my-org/a/b` (two segments), and `repo:my-org/*` cannot swallow the
 * `:environment:prod` of a GitHub `sub`. No regular expression is built from config, so a
 * pattern cannot be made to backtrack catastrophically. Case-sensitive, no normalisation.
 */

/** Longest pattern and longest claim value compared (claims are small; anything larger never matches). */
export const CLAIM_PATTERN_MAX_LENGTH = 512;
const SEPARATORS = /([/:])/;

/** What is wrong with a pattern, or undefined when it is usable. */
export function claimPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > CLAIM_PATTERN_MAX_LENGTH) return `must be at most ${CLAIM_PATTERN_MAX_LENGTH} characters`;
  if (pattern.includes('**')) return `"${pattern}": "**" is not supported; a "*" matches within one segment (between / or :)`;
  // A pattern of wildcards and separators only would hold for every value: not a condition.
  if (/^[*/:]+$/.test(pattern)) return `"${pattern}" matches any value; name what must hold (e.g. my-org/*)`;
  return undefined;
}

/** True when `value` matches `pattern` (exact text, `*` within one segment, see the module comment). */
export function matchesClaimPattern(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  if (value.length > CLAIM_PATTERN_MAX_LENGTH) return false;
  const want = pattern.split(SEPARATORS);
  const have = value.split(SEPARATORS);
  if (want.length !== have.length) return false;
  // Odd indices are the separators themselves (captured by the split): they must be identical.
  return want.every((part, i) => (i % 2 === 1 ? part === have[i] : matchesSegment(part, have[i]!)));
}

/**
 * One segment against a segment glob: each `*` takes one or more characters. Greedy matching
 * with a single backtrack point per star, O(n·m) at worst on these short strings.
 */
function matchesSegment(glob: string, text: string): boolean {
  let g = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (g < glob.length && glob[g] === '*') {
      // The star must consume at least one character.
      star = g++;
      resume = ++t;
    } else if (g < glob.length && glob[g] === text[t]) {
      g++;
      t++;
    } else if (star !== -1) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  return g === glob.length;
}

/** Claim names in rules and subject templates; a `/` reaches into nested objects (`kubernetes.io/namespace`). */
export const CLAIM_NAME_RE = /^[A-Za-z0-9_.:-]{1,64}(?:\/[A-Za-z0-9_.:-]{1,64}){0,4}$/;

/**
 * The claim `name` of a token's payload as text: strings as they are, numbers and booleans
 * spelled out (YAML `repository_owner_id: 1234` and a numeric claim compare alike). Undefined
 * when it is absent or an object, array or null: such a claim satisfies no condition.
 */
export function readClaim(payload: Readonly<Record<string, unknown>>, name: string): string | undefined {
  let node: unknown = payload;
  for (const key of name.split('/')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  if (typeof node === 'string') return node;
  if ((typeof node === 'number' && Number.isFinite(node)) || typeof node === 'boolean') return String(node);
  return undefined;
}
