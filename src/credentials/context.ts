import type { AgentRecord } from '../model/agent.js';

/** Who is asking and from where: recorded in every audit row a use case writes for the request. */
export interface RequestContext {
  readonly agent: AgentRecord;
  readonly clientIp: string | null;
  readonly requestId: string;
}
