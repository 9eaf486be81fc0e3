import type net from 'node:net';

/**
 * Starts `server` on a free loopback port and returns `url` (a postgres:// URL) pointed at it:
 * the URL a broker under test is given so that its connections pass through the proxy.
 */
export async function listenInFrontOf(server: net.Server, url: string): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as net.AddressInfo).port);
  return proxied.toString();
}
