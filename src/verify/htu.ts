/**
 * The DPoP `htu` of a request URL (RFC 9449 §4.2): the URL without query and fragment, after
 * the normalisation URL parsing does (scheme and host case, default port, dot segments). Both the
 * client (signing) and the verifier (comparing) use it, so they agree on every spelling.
 *
 * @returns The target, or undefined when `url` is not an absolute URL.
 */
export function htuOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return undefined;
  }
}
