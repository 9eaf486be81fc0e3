import type { ConfigReader } from '../../_utils/config-reader.js';
import { isSecureOrLoopbackUrl } from '../../_utils/url.js';
import { SESSION_POLICY_MAX_CHARS, smallestPolicyChars } from './policy.js';

/** Settings of `type: aws`. */
export interface AwsSettings {
  readonly roleArn: string;
  readonly region: string;
  /** STS endpoint override: a VPC endpoint, or a test fake. */
  readonly endpoint: string | undefined;
  readonly externalId: string | undefined;
  /** `Resource` of the session policy; `["*"]` lets the granted actions apply to whatever the role may touch. */
  readonly resources: readonly string[];
  /** The base credentials are themselves a role session: STS then caps sessions at 1 h. */
  readonly roleChaining: boolean;
  /** Per-attempt HTTP timeout in ms; the SDK retries inside the broker's mint deadline. */
  readonly requestTimeoutMs: number;
  /** Total SDK attempts per AssumeRole (first try plus retries). */
  readonly maxAttempts: number;
}

const ROLE_ARN_RE = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const REGION_RE = /^[a-z]{2}(?:-[a-z]+)+-\d$/;
const EXTERNAL_ID_RE = /^[\w+=,.@:/-]{2,1224}$/;
const RESOURCE_RE = /^(?:\*|arn:[^\s]{3,2040})$/;

/** Reads the aws-specific keys; every error names its key path. */
export function parseAwsSettings(reader: ConfigReader): AwsSettings {
  const roleArn = reader.string('role_arn');
  if (!ROLE_ARN_RE.test(roleArn)) reader.report('role_arn', 'must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)');
  const region = reader.string('region', 'us-east-1');
  if (!REGION_RE.test(region)) reader.report('region', 'must be an AWS region such as us-east-1');
  const endpoint = reader.optionalString('endpoint')?.replace(/\/+$/, '');
  if (endpoint !== undefined && !/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(endpoint)) reader.report('endpoint', 'must be an http(s) URL');
  // The signed AssumeRole request and the session credentials STS returns travel over it.
  else if (endpoint !== undefined && !isSecureOrLoopbackUrl(endpoint))
    reader.report('endpoint', 'must be an https URL (plain http only to a loopback address)');
  const externalId = reader.optionalString('external_id');
  if (externalId !== undefined && !EXTERNAL_ID_RE.test(externalId))
    reader.report('external_id', 'must be 2-1224 characters of [\\w+=,.@:/-]');
  const resources = reader.stringList('resources', ['*']);
  resources.forEach((resource, i) => {
    if (!RESOURCE_RE.test(resource)) reader.report(`resources[${i}]`, 'must be "*" or an ARN');
  });
  // Every session policy lists them: too many, and no request could ever be issued.
  const smallest = smallestPolicyChars(resources);
  if (smallest > SESSION_POLICY_MAX_CHARS) {
    reader.report(
      'resources',
      `make a session policy of at least ${smallest} characters, even with one scope; AWS STS takes at most ${SESSION_POLICY_MAX_CHARS}: list fewer resources`,
    );
  }
  const timeout = reader.duration('request_timeout', 5);
  if (timeout < 1 || timeout > 60) reader.report('request_timeout', 'must be between 1s and 60s');
  const maxAttempts = reader.optionalInteger('max_attempts', { min: 1, max: 10 }) ?? 3;
  return {
    roleArn,
    region,
    endpoint,
    externalId,
    resources,
    maxAttempts,
    roleChaining: reader.boolean('role_chaining', false),
    requestTimeoutMs: timeout * 1000,
  };
}
