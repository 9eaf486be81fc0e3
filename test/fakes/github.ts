/**
 * Loopback fake of the slice of the GitHub REST API a GitHub App uses to mint
 * installation tokens. It enforces what real GitHub enforces (App JWT rules,
 * no permission/repository escalation, token revocation and expiry) so tests
 * against it fail the way production would. Listens on 127.0.0.1 only.
 */

import { randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAppJwtVerifier } from './github-jwt.js';
import { rsaKeyPair } from './rsa.js';

/** Configuration of the fake: one GitHub App and its installations. */
export interface FakeGitHubOptions {
  /** Expected JWT `iss`. */
  appId: number | string;
  /** RSA public key of the App (SPKI PEM), used to verify App JWTs. */
  appPublicKeyPem: string;
  /** `repositories` are full names (`org/repo`); `permissions` are the App's full rights there. */
  installations: Array<{ id: number; account: string; repositories: string[]; permissions: Record<string, string> }>;
}

/** One queued failure, consumed by the next authenticated token-creation request. */
export type FaultSpec =
  | { status: 500 | 502 | 503 }
  | { status: 403; secondaryRateLimit: true; retryAfter?: number }
  /** A 201 whose body breaks off (truncated JSON): GitHub made the token, the answer is unreadable. */
  | { malformed: true }
  /** A refusal (4xx) with this message, e.g. one that echoes a token GitHub was sent. */
  | { status: 422; message: string }
  | { delayMs: number }
  /** Answers (normally) once `until` settles: a mint held while the test does something else. */
  | { until: Promise<unknown> }
  /**
   * Mints the token as usual, then resets the connection instead of answering: GitHub acted on
   * the request and the answer was lost on the way (a proxy or the network dropped it).
   */
  | { dropAfterMint: true };

/** A running fake. Arrays and the map are live: tests may inspect and mutate them. */
export interface FakeGitHub {
  /** Base URL, e.g. `http://127.0.0.1:PORT`; pass as the client's base_url. */
  url: string;
  /** Token-creation requests that passed App JWT auth, in arrival order (body parsed). */
  requests: Array<{ method: string; path: string; body: unknown; installationId?: number }>;
  /** Issued installation tokens; `repositories` holds full names, or 'all' when not narrowed. */
  tokens: Map<
    string,
    { installationId: number; permissions: Record<string, string>; repositories: string[] | 'all'; expiresAt: string; revoked: boolean }
  >;
  /** Fault queue: each authenticated token-creation request shifts one off, if any. */
  faults: FaultSpec[];
  /** Failures for `DELETE /installation/token`: each revocation with a live token shifts one off. */
  revokeFaults: Array<{ status: 500 | 502 | 503 }>;
  /** Every `DELETE /installation/token` call, live token or not, by token (counts revocation attempts). */
  revocations: string[];
  close(): Promise<void>;
}

type Installation = FakeGitHubOptions['installations'][number];
interface Repo {
  id: number;
  name: string;
  full_name: string;
  private: true;
  owner: { login: string };
}
interface Reply {
  status: number;
  json?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  /** Reset the connection instead of answering (see the `dropAfterMint` fault). */
  drop?: true;
}

const DOCS = 'https://docs.github.com/rest';
const err = (status: number, message: string): Reply => ({ status, json: { message, documentation_url: DOCS } });
const NOT_FOUND = err(404, 'Not Found');
const BAD_CREDENTIALS = err(401, 'Bad credentials');
// GitHub's wording for the two escalation refusals.
const PERMS_DENIED = err(422, 'The permissions requested are not granted to this installation.');
const REPO_DENIED = err(422, 'There is at least one repository that does not exist or is not accessible to the parent installation.');
const INVALID = err(422, 'Invalid request.');
const SERVER_ERRORS = { 500: 'Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' } as const;
const SECONDARY_LIMIT = 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.';

/** read < write < admin; 0 means "not a valid level". */
const rank = (level: unknown): number => (level === 'read' ? 1 : level === 'write' ? 2 : level === 'admin' ? 3 : 0);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const newToken = (): string => `ghs_${Array.from({ length: 36 }, () => ALPHANUM[randomInt(ALPHANUM.length)]).join('')}`;
/** GitHub's timestamp format has no milliseconds: 2026-01-01T00:00:00Z. */
const inOneHour = (): string => new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Starts the fake on an ephemeral loopback port. */
export async function startFakeGitHub(opts: FakeGitHubOptions): Promise<FakeGitHub> {
  const verifyAppJwt = await createAppJwtVerifier(opts.appId, opts.appPublicKeyPem);
  // Stable numeric ids so `repository_ids` and response `id`s are meaningful.
  let nextRepoId = 1001;
  const reposByInstallation = new Map<number, Repo[]>(
    opts.installations.map((inst) => [
      inst.id,
      inst.repositories.map((full): Repo => {
        const [owner = '', name = ''] = full.split('/');
        return { id: nextRepoId++, name, full_name: full, private: true, owner: { login: owner } };
      }),
    ]),
  );
  const reposOf = (inst: Installation): Repo[] => reposByInstallation.get(inst.id) ?? [];
  const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase(); // GitHub names are case-insensitive
  const byId = (id: number) => opts.installations.find((i) => i.id === id);
  const byAccount = (login: string) => opts.installations.find((i) => same(i.account, login));
  const byRepo = (full: string) => opts.installations.find((i) => i.repositories.some((r) => same(r, full)));

  const server = createServer((req, res) => {
    handle(req).then(
      (reply) => send(res, reply),
      (e: unknown) => send(res, err(500, String(e))),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fake: FakeGitHub = {
    url,
    requests: [],
    tokens: new Map(),
    faults: [],
    revokeFaults: [],
    revocations: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive sockets (undici) would otherwise hold close() open
      }),
  };

  const installationJson = (inst: Installation | undefined): Reply =>
    inst
      ? {
          status: 200,
          json: {
            id: inst.id,
            account: { login: inst.account },
            app_id: opts.appId,
            repository_selection: 'selected',
            permissions: inst.permissions,
            events: [],
            suspended_at: null,
            access_tokens_url: `${url}/app/installations/${inst.id}/access_tokens`,
            repositories_url: `${url}/installation/repositories`,
          },
        }
      : NOT_FOUND;

  /** Resolves a live installation token from `token X` / `Bearer X`; revoked or expired tokens don't count. */
  const installationToken = (authorization: string | undefined) => {
    const value = /^(?:token|bearer)\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    const entry = value === undefined ? undefined : fake.tokens.get(value);
    if (!entry || entry.revoked || Date.parse(entry.expiresAt) <= Date.now()) return undefined;
    return { value: value as string, entry };
  };

  async function handle(req: IncomingMessage): Promise<Reply> {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', url).pathname;
    const rawBody = await readBody(req);
    const auth = req.headers.authorization;
    let m: RegExpExecArray | null;

    const appGet = async (lookup: () => Installation | undefined): Promise<Reply> => {
      const denied = await verifyAppJwt(auth);
      return denied ? err(401, denied) : installationJson(lookup());
    };
    if (method === 'GET') {
      if ((m = /^\/app\/installations\/(\d+)$/.exec(path))) return appGet(() => byId(Number(m?.[1])));
      if ((m = /^\/(?:orgs|users)\/([^/]+)\/installation$/.exec(path))) return appGet(() => byAccount(m?.[1] ?? ''));
      if ((m = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(path))) return appGet(() => byRepo(`${m?.[1]}/${m?.[2]}`));
      if (path === '/installation/repositories') {
        const t = installationToken(auth);
        if (!t) return BAD_CREDENTIALS;
        const inst = byId(t.entry.installationId);
        const visible = (inst ? reposOf(inst) : []).filter(
          (r) => t.entry.repositories === 'all' || t.entry.repositories.includes(r.full_name),
        );
        return {
          status: 200,
          json: {
            total_count: visible.length,
            repository_selection: t.entry.repositories === 'all' ? 'all' : 'selected',
            repositories: visible,
          },
        };
      }
    }
    if (method === 'DELETE' && path === '/installation/token') {
      fake.revocations.push(/^(?:token|bearer)\s+(\S+)$/i.exec(auth ?? '')?.[1] ?? '');
      const t = installationToken(auth);
      if (!t) return BAD_CREDENTIALS;
      const fault = fake.revokeFaults.shift();
      if (fault) return err(fault.status, SERVER_ERRORS[fault.status]);
      t.entry.revoked = true;
      return { status: 204 };
    }
    if (method === 'POST' && (m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(path))) {
      return createToken(Number(m[1]), path, auth, rawBody);
    }
    return NOT_FOUND;
  }

  async function createToken(installationId: number, path: string, auth: string | undefined, rawBody: string): Promise<Reply> {
    const denied = await verifyAppJwt(auth);
    if (denied) return err(401, denied); // unauthenticated calls are neither recorded nor consume a fault
    let body: unknown;
    let parsed = true;
    try {
      body = rawBody === '' ? undefined : JSON.parse(rawBody);
    } catch {
      body = rawBody;
      parsed = false;
    }
    fake.requests.push({ method: 'POST', path, body, installationId });

    const queued = fake.faults.shift();
    // A dropped or cut-off answer's request is processed like any other (GitHub made the token);
    // only its answer is lost.
    const drop = queued !== undefined && 'dropAfterMint' in queued;
    const cut = queued !== undefined && 'malformed' in queued;
    const fault = drop || cut ? undefined : (queued as Exclude<FaultSpec, { dropAfterMint: true } | { malformed: true }> | undefined);
    if (fault && 'delayMs' in fault) await new Promise((r) => setTimeout(r, fault.delayMs).unref());
    else if (fault && 'until' in fault) await fault.until;
    else if (fault && 'message' in fault) return err(fault.status, fault.message);
    else if (fault?.status === 403) {
      return { ...err(403, SECONDARY_LIMIT), headers: { 'retry-after': String(fault.retryAfter ?? 60) } };
    } else if (fault) return err(fault.status, SERVER_ERRORS[fault.status]);

    const inst = byId(installationId);
    if (!inst) return NOT_FOUND;
    if (!parsed) return err(400, 'Problems parsing JSON');
    if (body !== undefined && !isRecord(body)) return INVALID;
    const scope = narrow(inst, body ?? {});
    if ('status' in scope) return scope;

    const token = newToken();
    const expiresAt = inOneHour();
    const selected = scope.repos !== 'all';
    fake.tokens.set(token, {
      installationId,
      permissions: scope.permissions,
      expiresAt,
      revoked: false,
      repositories: scope.repos === 'all' ? 'all' : scope.repos.map((r) => r.full_name),
    });
    const reply = {
      status: 201,
      ...(drop ? { drop } : {}),
      json: {
        token,
        expires_at: expiresAt,
        permissions: scope.permissions,
        repository_selection: selected ? 'selected' : 'all',
        ...(scope.repos !== 'all' && { repositories: scope.repos.map(({ id, name, full_name }) => ({ id, name, full_name })) }),
      },
    } satisfies Reply;
    // A 201 whose body broke off: `{"token":"ghs_`, the token made but not received.
    return cut ? { status: 201, raw: JSON.stringify(reply.json).slice(0, 14) } : reply;
  }

  /** Applies the request's narrowing; anything beyond the installation's grant is a 422, as on GitHub. */
  function narrow(
    inst: Installation,
    body: Record<string, unknown>,
  ): Reply | { permissions: Record<string, string>; repos: Repo[] | 'all' } {
    let permissions = { ...inst.permissions };
    if (body.permissions !== undefined) {
      if (!isRecord(body.permissions)) return INVALID;
      const wanted = Object.entries(body.permissions);
      // An empty object narrows nothing, same as omitting the field.
      if (wanted.length > 0) permissions = {};
      for (const [name, level] of wanted) {
        const want = rank(level);
        if (want === 0 || want > rank(inst.permissions[name])) return PERMS_DENIED;
        permissions[name] = level as string;
      }
    }
    const { repositories: names = [], repository_ids: ids = [] } = body;
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) return INVALID;
    if (!Array.isArray(ids) || !ids.every((n) => Number.isInteger(n))) return INVALID;
    const own = reposOf(inst);
    const picked = new Map<number, Repo>();
    // Names are bare repo names (octokit sends them that way); 'org/repo' matches nothing, like on GitHub.
    for (const name of names as string[]) {
      const repo = own.find((r) => same(r.name, name));
      if (!repo) return REPO_DENIED;
      picked.set(repo.id, repo);
    }
    for (const id of ids as number[]) {
      const repo = own.find((r) => r.id === id);
      if (!repo) return REPO_DENIED;
      picked.set(repo.id, repo);
    }
    return { permissions, repos: picked.size > 0 ? [...picked.values()] : 'all' };
  }

  return fake;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed) return; // client gone (e.g. timed out during a delay fault)
  if (reply.drop) {
    res.socket?.resetAndDestroy(); // TCP RST after the work was done: the client sees a reset, no status
    return;
  }
  const body = reply.raw ?? (reply.json === undefined ? '' : JSON.stringify(reply.json));
  // Real GitHub answers application/json (clients only parse that, not vnd.github+json).
  const type = reply.status === 204 ? {} : { 'content-type': 'application/json; charset=utf-8' };
  res.writeHead(reply.status, { ...type, 'x-github-media-type': 'github.v3; format=json', ...reply.headers });
  res.end(body);
}

/** An RSA key pair like a GitHub App's (PKCS#8 private, SPKI public), for the fake and the broker's config. */
export function appKeyPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = rsaKeyPair();
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}
