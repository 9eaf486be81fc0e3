/**
 * Last line of defence against secrets in logs and error messages, e.g. an SDK error that
 * echoes a header. Known secret shapes are replaced by `[REDACTED]`. Callers still must not put
 * secrets into messages on purpose; this catches what a dependency does.
 */
const SECRET_PATTERNS: RegExp[] = [
  /\bckr_[A-Za-z0-9_-]{20,}/g, // creddy agent / admin tokens
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}/g,
  /\beyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{8,16384}\.[A-Za-z0-9_-]{8,512}/g, // JWTs (bounded: no quadratic backtracking)
  /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, // AWS access key ids
  /(aws_secret_access_key|secretaccesskey|sessiontoken|x-amz-security-token)(["'\s:=]+)[^\s"',}]+/gi,
  // An Authorization header's value is a scheme and a credential (`Bearer …`, `Basic …`, `DPoP …`):
  // both go, or only the scheme would, and the token would stay.
  /(authorization)(["'\s:=]+)(?:[A-Za-z][\w-]*[ \t]+)?[^\s"',}]+/gi,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
  // A password in a URL (a store URL, CREDDY_URL=https://user:pass@…; *** is already masked). The
  // user and password stop at a quote, backslash, angle bracket, / or space, so a match never runs
  // from a URL across the next fields of a JSON log line to some later @ (an email claim); the
  // scheme starts after no scheme character (a lookbehind, not \b: linear on long dotted runs).
  /((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^:/@\s"'<>\\]*:)(?!\*\*\*@)([^@\s/"'<>\\]+)@/gi,
  // A password in a URL's query (`postgres://…?password=…`, `&sslpassword=…`, as libpq reads
  // them; see maskUrl): the name is kept, the value stops at the next parameter, quote or space.
  // A value maskUrl already made *** stays (whatever text follows it).
  /([?&][a-z_]*pass(?:word|phrase))(=)(?!\*\*\*)[^&#\s"'<>\\]+/gi,
];

export function redact(text: string): string {
  let out = text;
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (match, name?: string, sep?: string) => {
      if (typeof name === 'string' && name.includes('://')) return `${name}[REDACTED]@`;
      return typeof name === 'string' && typeof sep === 'string' && match.startsWith(name) ? `${name}${sep}[REDACTED]` : '[REDACTED]';
    });
  }
  return out;
}

/**
 * How far past a cut `redactCapped` looks: further than any secret `redact` removes whole reaches
 * (its JWT pattern tops out at 20,997 characters; a PEM RSA-4096 key is about 3,300), and a
 * bound on the work, since `redact` is not linear on hostile input.
 */
const REDACT_WINDOW = 21_504;

/**
 * `text` redacted, then cut to `max` characters: in that order, because a secret cut at the limit
 * first no longer matches its pattern (a JWT without its signature part, a `ckr_` token shorter
 * than 20 characters) and would be kept, in part.
 */
export function redactCapped(text: string, max: number): string {
  return redact(text.slice(0, max + REDACT_WINDOW)).slice(0, max);
}

/**
 * The start of a secret `redact` knows by its prefix, left at the end of a text cut short: too
 * short there to match its pattern (a `ckr_` token under 20 characters, a JWT without its
 * signature), so `redact` would keep it.
 */
const SECRET_START_AT_END = /(?:\bckr_|\bgh[pousr]_|\bgithub_pat_|\beyJ|\b(?:AKIA|ASIA))[A-Za-z0-9_.-]*$/;

/**
 * `text` cut to `max` characters, then redacted, and a secret's start left at the cut masked too.
 * For caller input before authentication, where the work must be bounded by the cut itself
 * (`redact` is not linear on hostile input, and `redactCapped` reads far past the cut); where the
 * text comes from a caller who authenticated, or from upstream, prefer `redactCapped`.
 */
export function cutRedacted(text: string, max: number): string {
  if (text.length <= max) return redact(text);
  return redact(text.slice(0, max)).replace(SECRET_START_AT_END, '[REDACTED]');
}
