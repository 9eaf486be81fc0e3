/** Hosts that never leave the machine: plain http to them cannot be intercepted on a network. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

/**
 * True for an `https:` URL, or an `http:` URL whose host is loopback (tests, a sidecar). Keys and
 * discovery documents fetched over plain http from anywhere else could be swapped in transit, and
 * whoever swaps them mints identities.
 */
export function isSecureOrLoopbackUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password || url.hash) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}
