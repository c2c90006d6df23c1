import { describe, expect, it } from 'vitest';
import { toWebhook, WebhookRegistry, type WebhookDefinition } from '../../../src/delivery/registry.js';

const base: Omit<WebhookDefinition, 'id'> = {
  targetUrl: 'https://receiver.example/hook',
  operations: ['person.*'],
  description: '',
  format: 'twenty',
  signatures: ['twenty-legacy'],
  secrets: ['0123456789abcdef'],
  source: 'api',
};

describe('webhook workspace scope and Twenty operations', () => {
  it('sends an event only to webhooks of its workspace, or of every workspace', () => {
    const registry = new WebhookRegistry();
    registry.set(toWebhook({ ...base, id: 'a', workspaceId: 'ws-a' }));
    registry.set(toWebhook({ ...base, id: 'b', workspaceId: 'ws-b' }));
    registry.set(toWebhook({ ...base, id: 'all' }));
    const ids = (workspaceId: string | null) => registry.match('person', 'created', workspaceId).map((w) => w.id).sort();
    expect(ids('ws-a')).toEqual(['a', 'all']);
    expect(ids('ws-b')).toEqual(['all', 'b']);
    expect(ids(null)).toEqual(['all']);
  });

  it("takes Twenty's operation strings as they are: those naming no row event match nothing and are no error", () => {
    const twenty = toWebhook({ ...base, id: 't', source: 'twenty', operations: ['person.upserted', 'metadata.object.created', 'company.updated', 'bogus'] });
    const registry = new WebhookRegistry();
    registry.set(twenty);
    expect(registry.match('company', 'updated', null).map((w) => w.id)).toEqual(['t']);
    expect(registry.match('person', 'created', null)).toEqual([]);
    expect(() => toWebhook({ ...base, id: 'x', operations: ['person.upserted'] })).toThrow(/unknown/);
  });
});
