import { describe, expect, it } from 'vitest';
import { startBroker } from './helpers/harness.js';

describe('createServices', () => {
  it('warns when two backends share a token audience', async () => {
    const broker = await startBroker({
      backends: `  reports-read:
    type: generic
    audience: https://reports.internal
    allowed_scopes: [read]
  reports-admin:
    type: generic
    audience: https://reports.internal
    allowed_scopes: [admin]
`,
    });
    try {
      const warning = broker.logLines
        .map((l) => JSON.parse(l) as { msg: string; backends?: string[] })
        .find((l) => l.msg.includes('share one token audience'));
      expect(warning?.backends).toEqual(['reports-read', 'reports-admin']);
    } finally {
      await broker.stop();
    }
  });
});
