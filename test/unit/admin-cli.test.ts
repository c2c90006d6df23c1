import { describe, expect, it } from 'vitest';
import { formatTable, isAdminCommand } from '../../src/admin-cli.js';

describe('formatTable', () => {
  it('pads each column to its widest cell and trims line ends', () => {
    expect(formatTable(['ID', 'STATE'], [['a', 'dead'], ['abcdef', '']])).toBe(['ID      STATE', 'a       dead', 'abcdef'].join('\n'));
  });

  it('prints the header alone when there are no rows', () => {
    expect(formatTable(['ID', 'STATE'], [])).toBe('ID  STATE');
  });
});

describe('isAdminCommand', () => {
  it('recognises the webhook and delivery command groups only', () => {
    expect(isAdminCommand('webhooks')).toBe(true);
    expect(isAdminCommand('deliveries')).toBe(true);
    expect(isAdminCommand('start')).toBe(false);
    expect(isAdminCommand(undefined)).toBe(false);
    expect(isAdminCommand('toString')).toBe(false);
  });
});
