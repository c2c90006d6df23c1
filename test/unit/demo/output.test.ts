import { describe, expect, it } from 'vitest';
import { DemoOutput, type ReadyInfo } from '../../../src/demo/output.js';
import type { ReceivedDelivery } from '../../../src/demo/receiver.js';

function printed(write: (output: DemoOutput) => void): string {
  const lines: string[] = [];
  write(new DemoOutput('plain', (line) => lines.push(line)));
  return lines.join('\n');
}

const delivery = (status: number, attempt: number): ReceivedDelivery => ({
  operation: 'person.created',
  recordId: '2c2f3d0e-0000-4000-8000-000000000001',
  updatedFields: null,
  committedAt: new Date('2026-12-01T10:00:00.000Z'),
  receivedAt: new Date('2026-12-01T10:00:00.020Z'),
  webhook: 'all',
  deliveryId: '6b7c1a5e-0f6a-4f55-9d0b-1c9a3f0e2d11',
  attempt,
  verification: { ok: true, schemes: ['standard'] },
  status,
});

describe('demo delivery lines', () => {
  it('put a check mark only beside a delivery that succeeded', () => {
    expect(printed((output) => output.delivery(delivery(200, 2)))).toContain('✓ std');
    const refused = printed((output) => output.delivery(delivery(503, 1)));
    expect(refused).not.toContain('✓');
    expect(refused).toMatch(/signed std\s+✗ 503\s+walhook retries/);
  });
});

describe('the demo banner', () => {
  it('points to the console and /metrics on the API port', () => {
    const info: ReadyInfo = {
      startupMs: 1200,
      postgres: { url: 'postgres://demo@127.0.0.1:5999/demo', dataDir: '/tmp/walhook-pg-x/data', binDir: null },
      workspace: { id: '20202020-0000-4000-8000-000000000001', schema: 'workspace_x' },
      api: { url: 'http://127.0.0.1:41234', token: 'demo-token' },
      webhooks: [],
    };
    const banner = printed((output) => output.ready(info));
    expect(banner).toContain('console     http://127.0.0.1:41234/console');
    expect(banner).toContain('metrics     http://127.0.0.1:41234/metrics');
    expect(printed((output) => output.idle(info))).toContain('http://127.0.0.1:41234/console');
  });
});
