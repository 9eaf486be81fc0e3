import { type FakeSts, startFakeSts } from '../../fakes/sts.js';
import { startBroker, type TestBroker } from '../../helpers/harness.js';

export const BASE = { accessKeyId: 'AKIAFAKEBASE0000TEST', secretAccessKey: 'base/secret/key+0123456789abcdefghijklmn' };
export const ROLE = 'arn:aws:iam::111122223333:role/agents';

/**
 * Base credentials come from the SDK's standard chain; env vars are its first link. Set them in
 * this test worker's environment (vitest isolates files in their own workers).
 */
export function useBaseCredentials(): void {
  process.env['AWS_ACCESS_KEY_ID'] = BASE.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = BASE.secretAccessKey;
  delete process.env['AWS_SESSION_TOKEN'];
  delete process.env['AWS_PROFILE'];
}

export interface AwsFixture {
  readonly sts: FakeSts;
  readonly broker: TestBroker;
  stop(): Promise<void>;
}

/**
 * The fake STS (role `agents`, optionally guarded by an external id) and a broker with backend
 * `aws`; `requestTimeout` is the backend's per-attempt timeout (default 1s).
 */
export async function startAwsFixture(
  options: { extra?: string[]; externalId?: string; requestTimeout?: string } = {},
): Promise<AwsFixture> {
  useBaseCredentials();
  const sts = await startFakeSts({
    credentials: [BASE],
    roles: [{ arn: ROLE, maxSessionDuration: 43_200, ...(options.externalId ? { externalId: options.externalId } : {}) }],
  });
  const broker = await startBroker({
    backends: [
      '  aws:',
      '    type: aws',
      `    role_arn: ${ROLE}`,
      '    region: us-east-1',
      `    endpoint: ${sts.url}`,
      `    request_timeout: ${options.requestTimeout ?? '1s'}`,
      '    default_ttl: 15m',
      '    max_ttl: 2h',
      '    allowed_scopes: ["s3:Get*", "s3:List*", "dynamodb:Query", "sts:GetCallerIdentity"]',
      '    default_scopes: ["s3:GetObject"]',
      ...(options.extra ?? []).map((line) => `    ${line}`),
    ].join('\n'),
  });
  return {
    sts,
    broker,
    async stop() {
      await broker.stop();
      await sts.close();
    },
  };
}
