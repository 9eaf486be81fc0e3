/**
 * Loopback fake of AWS STS (query protocol, API version 2011-06-15) for tests.
 *
 * It verifies SigV4 and validates AssumeRole parameters the way real STS does,
 * so code that passes against it is not relying on a permissive stub. Only
 * AssumeRole and GetCallerIdentity are implemented.
 */

import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type KnownCredential, verifySigV4 } from './sigv4.js';

/** What the fake accepts. */
export interface FakeStsOptions {
  /** Long-term (or pre-existing session) credentials allowed to call the fake. */
  credentials: Array<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;
  /** Assumable roles; `maxSessionDuration` defaults to 3600, `externalId` is required if set. */
  roles: Array<{ arn: string; maxSessionDuration?: number; externalId?: string }>;
  /** Region requests must be signed for. Default `us-east-1` (what the global endpoint expects). */
  region?: string;
}

/** One accepted AssumeRole request, with its parameters parsed. */
export interface AssumeRoleCall {
  roleArn: string;
  roleSessionName: string;
  durationSeconds: number;
  /** Session policy, parsed from JSON. */
  policy?: unknown;
  sourceIdentity?: string;
  externalId?: string;
  tags: Record<string, string>;
  /** Access key that signed the request. */
  accessKeyId: string;
}

/** Injected failure, consumed by the next request (one entry per request, FIFO). */
export type FakeStsFault = { status: 500 | 503 } | { throttle: true } | { malformed: true } | { delayMs: number };

/** A running fake; all fields are live and may be inspected or mutated by tests. */
export interface FakeSts {
  /** `http://127.0.0.1:PORT` — pass as the SDK `endpoint`. */
  url: string;
  /** Accepted AssumeRole calls, oldest first. */
  calls: AssumeRoleCall[];
  /** Requests refused by authentication or validation (injected faults are not recorded). */
  rejected: Array<{ code: string; message: string }>;
  /** Push faults here; each request pops one (after reading its body, before authentication). */
  faults: FakeStsFault[];
  /** Issued sessions by AccessKeyId. Delete one, or move `expiration` into the past, to revoke/expire it. */
  sessions: Map<string, { roleArn: string; expiration: Date; policy?: unknown }>;
  close(): Promise<void>;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const NAME_RE = /^[\w+=,.@-]*$/; // RoleSessionName and SourceIdentity character set
const EXTERNAL_ID_RE = /^[\w+=,.@:/-]*$/;
const POLICY_CHARS_RE = /^[\t\n\r\u0020-\u00FF]+$/;
const ROLE_ARN_RE = /^arn:(aws[\w-]*):iam::(\d{12}):role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]+)$/;
/** Length/pattern constraints from the STS API model; checked before any authorization decision, as STS does. */
const STRING_RULES: Array<{ param: string; member: string; min: number; max: number; pattern?: RegExp; required?: true }> = [
  { param: 'RoleArn', member: 'roleArn', min: 20, max: 2048, required: true },
  { param: 'RoleSessionName', member: 'roleSessionName', min: 2, max: 64, pattern: NAME_RE, required: true },
  { param: 'Policy', member: 'policy', min: 1, max: 2048, pattern: POLICY_CHARS_RE },
  { param: 'ExternalId', member: 'externalId', min: 2, max: 1224, pattern: EXTERNAL_ID_RE },
  { param: 'SourceIdentity', member: 'sourceIdentity', min: 2, max: 64, pattern: NAME_RE },
];
const PACKED_LIMIT = 2048; // stand-in for STS's unpublished packed-binary limit
const MAX_BODY = 1 << 20;

class StsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
const validation = (msg: string) => new StsError(400, 'ValidationError', msg);

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
const tag = (name: string, value: string): string => `<${name}>${value}</${name}>`;
/** Real STS emits timestamps without milliseconds. */
const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const upperAlnum = (n: number): string => Array.from({ length: n }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[randomInt(36)]).join('');
/** Stable pseudo unique-id (AROA…/AIDA…), as IAM ids are stable per principal. */
const stableId = (prefix: string, seed: string): string =>
  prefix + createHash('sha256').update(seed).digest('hex').toUpperCase().slice(0, 17);

interface Caller {
  accessKeyId: string;
  arn: string;
  userId: string;
  account: string;
  chained: boolean;
}
interface Issued {
  secretAccessKey: string;
  sessionToken: string;
  arn: string;
  userId: string;
}

/** Start the fake on 127.0.0.1 with an ephemeral port. */
export async function startFakeSts(opts: FakeStsOptions): Promise<FakeSts> {
  const region = opts.region ?? 'us-east-1';
  const roles = new Map(
    opts.roles.map((r) => {
      const m = ROLE_ARN_RE.exec(r.arn);
      if (!m) throw new Error(`startFakeSts: not an IAM role ARN: ${r.arn}`);
      return [r.arn, { ...r, partition: m[1]!, account: m[2]!, name: m[3]! }] as const;
    }),
  );
  // Base credentials need an identity for GetCallerIdentity/AccessDenied; borrow the first role's account.
  const account = [...roles.values()][0]?.account ?? '123456789012';
  const issued = new Map<string, Issued>(); // secrets of issued sessions; `fake.sessions` is the public view
  const fake: FakeSts = { url: '', calls: [], rejected: [], faults: [], sessions: new Map(), close: async () => {} };

  const lookup = (id: string): KnownCredential | undefined => {
    const base = opts.credentials.find((c) => c.accessKeyId === id);
    if (base) {
      const { secretAccessKey, sessionToken } = base;
      return sessionToken === undefined ? { secretAccessKey } : { secretAccessKey, sessionToken };
    }
    // Issued sessions live only while present in the public map, so tests can revoke or expire them.
    const session = fake.sessions.get(id);
    const secret = issued.get(id);
    if (!session || !secret) return undefined;
    return { secretAccessKey: secret.secretAccessKey, sessionToken: secret.sessionToken, expiration: session.expiration };
  };
  const callerFor = (id: string): Caller => {
    const s = issued.get(id);
    return s
      ? { accessKeyId: id, arn: s.arn, userId: s.userId, account: s.arn.split(':')[4]!, chained: true }
      : { accessKeyId: id, arn: `arn:aws:iam::${account}:user/${id}`, userId: stableId('AIDA', id), account, chained: false };
  };

  function assumeRole(p: URLSearchParams, caller: Caller): string {
    const roleArn = p.get('RoleArn');
    const sessionName = p.get('RoleSessionName');
    const durationRaw = p.get('DurationSeconds');
    const policyText = p.get('Policy');
    const externalId = p.get('ExternalId');
    const sourceIdentity = p.get('SourceIdentity');
    const tags = parseTags(p);

    // Constraint violations are collected and reported together, like STS's "N validation errors detected".
    const errs: string[] = [];
    const bad = (v: string | null, member: string, why: string) =>
      errs.push(`Value ${v === null ? 'null' : `'${v}'`} at '${member}' failed to satisfy constraint: Member ${why}`);
    for (const rule of STRING_RULES) {
      const v = p.get(rule.param);
      if (v === null) {
        if (rule.required) bad(null, rule.member, 'must not be null');
      } else if (v.length < rule.min) bad(v, rule.member, `must have length greater than or equal to ${rule.min}`);
      else if (v.length > rule.max) bad(v, rule.member, `must have length less than or equal to ${rule.max}`);
      else if (rule.pattern && !rule.pattern.test(v)) {
        bad(v, rule.member, `must satisfy regular expression pattern: ${rule.pattern.source.replace(/^\^|\$$/g, '')}`);
      }
    }
    const duration = durationRaw === null ? 3600 : Number(durationRaw);
    if (!Number.isInteger(duration)) throw validation(`Invalid value '${durationRaw}' for DurationSeconds`);
    if (duration < 900) bad(durationRaw, 'durationSeconds', 'must have value greater than or equal to 900');
    else if (duration > 43200) bad(durationRaw, 'durationSeconds', 'must have value less than or equal to 43200');
    if (tags.length > 50) bad(null, 'tags', 'must have length less than or equal to 50');
    for (const [i, t] of tags.entries()) {
      const key = t.key ?? null;
      const value = t.value ?? null;
      if (key === null || key.length < 1 || key.length > 128) bad(key, `tags.${i + 1}.member.key`, 'must have length between 1 and 128');
      if (value === null || value.length > 256) bad(value, `tags.${i + 1}.member.value`, 'must not be null, length at most 256');
    }
    if (errs.length > 0) throw validation(`${errs.length} validation error${errs.length > 1 ? 's' : ''} detected: ${errs.join('; ')}`);
    if (roleArn === null || sessionName === null) throw validation('unreachable'); // narrows; the rules above required both

    let policy: unknown;
    if (policyText !== null) {
      try {
        policy = JSON.parse(policyText);
      } catch {
        throw new StsError(400, 'MalformedPolicyDocument', 'The policy is not in the valid JSON format.');
      }
      if (typeof policy !== 'object' || policy === null || Array.isArray(policy) || !('Statement' in policy)) {
        throw new StsError(400, 'MalformedPolicyDocument', 'Syntax errors in policy.');
      }
    }
    const role = roles.get(roleArn);
    const denied = new StsError(
      403,
      'AccessDenied',
      `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
    );
    if (!role) throw denied;
    if (role.externalId !== undefined && role.externalId !== externalId) throw denied; // the confused-deputy guard
    if (duration > (role.maxSessionDuration ?? 3600)) {
      throw validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    }
    if (caller.chained && duration > 3600) {
      throw validation('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    }
    if (sourceIdentity?.toLowerCase().startsWith('aws:')) throw validation('SourceIdentity cannot begin with the prefix "aws:"');
    const lowerKeys = tags.map((t) => t.key!.toLowerCase());
    if (new Set(lowerKeys).size !== lowerKeys.length) {
      throw validation('Duplicate tag keys found. Please note that Tag keys are case insensitive.');
    }
    // Packed size: whitespace-free policy plus tags, reported as a percentage like STS's PackedPolicySize.
    const packed =
      (policyText === null ? 0 : JSON.stringify(policy).length) + tags.reduce((n, t) => n + t.key!.length + t.value!.length, 0);
    const packedPercent = Math.ceil((packed / PACKED_LIMIT) * 100);
    if (packed > PACKED_LIMIT) {
      throw new StsError(
        400,
        'PackedPolicyTooLarge',
        `Packed size of the consolidated policies and tags exceeds the limit by ${packedPercent - 100}%.`,
      );
    }

    const accessKeyId = `ASIA${upperAlnum(16)}`;
    const secretAccessKey = randomBytes(30).toString('base64'); // 40 chars, same alphabet as real secrets
    const sessionToken = randomBytes(240).toString('base64');
    const expiration = new Date(Math.floor(Date.now() / 1000) * 1000 + duration * 1000);
    const assumedId = `${stableId('AROA', role.arn)}:${sessionName}`;
    const assumedArn = `arn:${role.partition}:sts::${role.account}:assumed-role/${role.name}/${sessionName}`;
    issued.set(accessKeyId, { secretAccessKey, sessionToken, arn: assumedArn, userId: assumedId });
    fake.sessions.set(accessKeyId, policyText === null ? { roleArn, expiration } : { roleArn, expiration, policy });
    const call: AssumeRoleCall = {
      roleArn,
      roleSessionName: sessionName,
      durationSeconds: duration,
      tags: Object.fromEntries(tags.map((t) => [t.key!, t.value!])),
      accessKeyId: caller.accessKeyId,
    };
    if (policyText !== null) call.policy = policy;
    if (sourceIdentity !== null) call.sourceIdentity = sourceIdentity;
    if (externalId !== null) call.externalId = externalId;
    fake.calls.push(call);

    return tag(
      'AssumeRoleResult',
      tag(
        'Credentials',
        tag('AccessKeyId', accessKeyId) +
          tag('SecretAccessKey', esc(secretAccessKey)) +
          tag('SessionToken', esc(sessionToken)) +
          tag('Expiration', isoSeconds(expiration)),
      ) +
        tag('AssumedRoleUser', tag('AssumedRoleId', esc(assumedId)) + tag('Arn', esc(assumedArn))) +
        (policyText !== null || tags.length > 0 ? tag('PackedPolicySize', String(packedPercent)) : '') +
        (sourceIdentity !== null ? tag('SourceIdentity', esc(sourceIdentity)) : ''),
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }).end(body);
    };
    const sendError = (e: StsError, record: boolean) => {
      if (record) fake.rejected.push({ code: e.code, message: e.message });
      const type = e.status >= 500 ? 'Receiver' : 'Sender';
      const error = tag('Error', tag('Type', type) + tag('Code', e.code) + tag('Message', esc(e.message)));
      send(e.status, `<ErrorResponse xmlns="${NS}">${error}${tag('RequestId', requestId)}</ErrorResponse>`);
    };
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) return sendError(new StsError(413, 'RequestEntityTooLarge', 'Request body too large'), true);
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);

    const fault = fake.faults.shift();
    if (fault && 'delayMs' in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
    else if (fault && 'status' in fault) {
      return sendError(
        fault.status === 500
          ? new StsError(500, 'InternalFailure', 'An internal error occurred.')
          : new StsError(503, 'ServiceUnavailable', 'Service is unavailable.'),
        false,
      );
    } else if (fault && 'throttle' in fault) return sendError(new StsError(400, 'Throttling', 'Rate exceeded'), false);
    else if (fault && 'malformed' in fault) return send(200, '<<<garbage not-xml \u0000 {');

    const signed = { method: req.method ?? 'GET', rawUrl: req.url ?? '/', rawHeaders: req.rawHeaders, body };
    const auth = verifySigV4(signed, { region, service: 'sts', lookup });
    if (!auth.ok) return sendError(new StsError(auth.status, auth.code, auth.message), true);
    const caller = callerFor(auth.accessKeyId);

    // The query protocol carries parameters in a form body (POST) or the query string (GET).
    const isForm = req.method === 'POST' && (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const params = new URLSearchParams(isForm ? body.toString('utf8') : ((req.url ?? '').split('?')[1] ?? ''));
    const action = params.get('Action') ?? '';
    const version = params.get('Version') ?? '';
    try {
      if (version !== '2011-06-15' || (action !== 'AssumeRole' && action !== 'GetCallerIdentity')) {
        throw new StsError(400, 'InvalidAction', `Could not find operation ${action} for version ${version}`);
      }
      const result =
        action === 'AssumeRole'
          ? assumeRole(params, caller)
          : tag(
              'GetCallerIdentityResult',
              tag('Arn', esc(caller.arn)) + tag('UserId', esc(caller.userId)) + tag('Account', caller.account),
            );
      send(200, `<${action}Response xmlns="${NS}">${result}${tag('ResponseMetadata', tag('RequestId', requestId))}</${action}Response>`);
    } catch (e) {
      if (!(e instanceof StsError)) throw e;
      sendError(e, true);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve, reject) => {
      server.close((e) => (e ? reject(e) : resolve()));
      server.closeAllConnections(); // SDK keep-alive sockets would otherwise hold close() open
    });
  return fake;
}

/** `Tags.member.N.Key` / `Tags.member.N.Value`, in N order. */
function parseTags(p: URLSearchParams): Array<{ key?: string; value?: string }> {
  const byIndex = new Map<number, { key?: string; value?: string }>();
  for (const [k, v] of p) {
    const m = /^Tags\.member\.(\d+)\.(Key|Value)$/.exec(k);
    if (!m) continue;
    const entry = byIndex.get(Number(m[1])) ?? {};
    if (m[2] === 'Key') entry.key = v;
    else entry.value = v;
    byIndex.set(Number(m[1]), entry);
  }
  return [...byIndex.entries()].sort(([a], [b]) => a - b).map(([, t]) => t);
}
