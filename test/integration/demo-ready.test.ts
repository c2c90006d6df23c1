/**
 * The demo plays its script once walhook streams: a ready standby is not
 * streaming, and a change committed before the elected instance creates its
 * slot is never decoded. Two `walhook start` processes on one slot: the
 * demo's wait accepts the leader at once and the standby only after it has
 * taken the slot over.
 */
import { describe, expect, it } from 'vitest';
import { waitUntilStreaming } from '../../src/demo/walhook-api.js';
import { useCrmTestBed } from '../harness/crm.js';
import { probe, useInstances } from '../harness/operations.js';

const bed = useCrmTestBed('demoready');
const instances = useInstances();

describe("the demo's wait for streaming", { timeout: 60_000 }, () => {
  it('passes the leader, and holds a ready standby until it leads', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }] });
    const leader = await instances.start(setup.file, { streaming: true });
    const standby = await instances.start(setup.file);
    const signal = new AbortController().signal;

    await waitUntilStreaming(leader.api, 5_000, signal);
    // Ready, as a standby rightly is: it could take over.
    expect((await probe(standby.api, '/readyz')).status).toBe(200);
    await expect(waitUntilStreaming(standby.api, 1_500, signal)).rejects.toThrow(/ready as standby, not yet leading/);

    await leader.stop();
    await waitUntilStreaming(standby.api, 30_000, signal);
    expect((await probe(standby.api, '/readyz')).body).toMatchObject({ role: 'leader' });
  });
});
