import { describe, expect, it } from 'vitest';
import { Watermark } from '../../../src/source/watermark.js';

function tracker() {
  const advances: bigint[] = [];
  const watermark = new Watermark((lsn) => advances.push(lsn));
  return { watermark, advances };
}

describe('Watermark', () => {
  it('confirms a transaction with no deliveries at its commit', () => {
    const { watermark, advances } = tracker();
    const tx = watermark.begin(100n);
    watermark.commit(tx, 120n);
    expect(advances).toEqual([120n]);
    expect(watermark.inFlight).toBe(0);
  });

  it('waits for every delivery of a transaction', () => {
    const { watermark, advances } = tracker();
    const tx = watermark.begin(100n);
    const settleA = watermark.hold(tx);
    const settleB = watermark.hold(tx);
    watermark.commit(tx, 120n);
    settleA();
    expect(advances).toEqual([]);
    settleB();
    expect(advances).toEqual([120n]);
  });

  it('never passes an unsettled earlier transaction', () => {
    const { watermark, advances } = tracker();
    const first = watermark.begin(100n);
    const settleFirst = watermark.hold(first);
    watermark.commit(first, 120n);
    const second = watermark.begin(200n);
    watermark.commit(second, 220n);
    expect(advances).toEqual([]);
    settleFirst();
    expect(advances).toEqual([220n]);
  });

  it('settling twice counts once', () => {
    const { watermark, advances } = tracker();
    const tx = watermark.begin(100n);
    const settle = watermark.hold(tx);
    watermark.hold(tx);
    watermark.commit(tx, 120n);
    settle();
    settle();
    expect(advances).toEqual([]);
  });

  it('does not confirm an open transaction even when its deliveries are settled', () => {
    const { watermark, advances } = tracker();
    const tx = watermark.begin(100n);
    watermark.hold(tx)();
    watermark.keepalive(500n);
    expect(advances).toEqual([]);
    watermark.commit(tx, 120n);
    expect(advances).toEqual([120n]);
  });

  it('confirms keepalive positions only when nothing is in flight', () => {
    const { watermark, advances } = tracker();
    watermark.keepalive(50n);
    const tx = watermark.begin(100n);
    const settle = watermark.hold(tx);
    watermark.commit(tx, 120n);
    watermark.keepalive(300n);
    expect(advances).toEqual([50n]);
    settle();
    watermark.keepalive(300n);
    expect(advances).toEqual([50n, 120n, 300n]);
  });

  it('orders a re-streamed transaction before later ones still in flight', () => {
    const { watermark, advances } = tracker();
    const later = watermark.begin(300n);
    const settleLater = watermark.hold(later);
    watermark.commit(later, 320n);
    const again = watermark.begin(100n);
    const settleAgain = watermark.hold(again);
    watermark.commit(again, 120n);
    settleLater();
    expect(advances).toEqual([]);
    settleAgain();
    expect(advances).toEqual([320n]);
  });

  it('drops open transactions after a disconnect, then advances past settled ones', () => {
    const { watermark, advances } = tracker();
    const done = watermark.begin(100n);
    const settleDone = watermark.hold(done);
    watermark.commit(done, 120n);
    watermark.begin(200n);
    settleDone();
    expect(advances).toEqual([120n]);
    watermark.abandonOpen();
    expect(watermark.inFlight).toBe(0);
  });

  it('never moves backwards', () => {
    const { watermark, advances } = tracker();
    watermark.keepalive(500n);
    const tx = watermark.begin(100n);
    watermark.commit(tx, 120n);
    expect(advances).toEqual([500n]);
    expect(watermark.position).toBe(500n);
  });

  it('hands over the commit time of the last settled transaction it confirms, and none for a keepalive', () => {
    const settled: [bigint, string | null][] = [];
    const watermark = new Watermark((lsn, commitTime) => settled.push([lsn, commitTime]));
    const first = watermark.begin(100n, '2026-01-01T00:00:01Z');
    const settleFirst = watermark.hold(first);
    watermark.commit(first, 120n);
    const second = watermark.begin(200n, '2026-01-01T00:00:02Z');
    watermark.commit(second, 220n);
    expect(settled).toEqual([]);
    settleFirst();
    expect(settled).toEqual([[220n, '2026-01-01T00:00:02Z']]);
    watermark.keepalive(500n);
    expect(settled.at(-1)).toEqual([500n, null]);
  });

  it('counts the deliveries held and not settled, those of an abandoned transaction included, each once', () => {
    const { watermark } = tracker();
    const open = watermark.begin(100n);
    const settleOpen = watermark.hold(open);
    const done = watermark.begin(200n);
    const settleDone = watermark.hold(done);
    watermark.hold(done);
    watermark.commit(done, 220n);
    expect(watermark.unsettledDeliveries).toBe(3);
    settleDone();
    settleDone();
    expect(watermark.unsettledDeliveries).toBe(2);
    // The connection dropped: the open transaction is forgotten, but its delivery is still being made.
    watermark.abandonOpen();
    expect(watermark.unsettledDeliveries).toBe(2);
    settleOpen();
    expect(watermark.unsettledDeliveries).toBe(1);
  });
});
