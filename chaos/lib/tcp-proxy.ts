/**
 * A TCP proxy on 127.0.0.1 in front of a PostgreSQL server, which a scenario
 * can cut (every open connection reset, every new one closed at once: the
 * server is unreachable), black-hole (nothing passes either way and nothing
 * is closed: a silent network partition) and restore, or point at another
 * server (a failover: the address clients know now reaches the promoted standby).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  cut(): void;
  /** Stops every byte both ways, on open connections and new ones, without closing or resetting any socket. */
  blackHole(): void;
  /** Ends a cut or a black hole: held connections go through, and bytes flow again. */
  restore(): void;
  /** Resets every open connection; new ones go to `port`. */
  retarget(port: number): void;
  close(): Promise<void>;
}

interface Connection {
  client: Socket;
  /** null while a connection made during a black hole is held. */
  upstream: Socket | null;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const connections = new Set<Connection>();
  let mode: 'open' | 'cut' | 'blackHole' = 'open';
  let target = targetPort;
  const track = (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const flow = (connection: Connection) => {
    const { client } = connection;
    if (!connection.upstream) {
      const upstream = connect(target, '127.0.0.1');
      track(upstream);
      connection.upstream = upstream;
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    }
    client.pipe(connection.upstream);
    connection.upstream.pipe(client);
  };
  const server: Server = createServer((client) => {
    track(client);
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const connection: Connection = { client, upstream: null };
    connections.add(connection);
    client.on('close', () => connections.delete(connection));
    if (mode === 'blackHole') client.pause();
    else flow(connection);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    via(url) {
      const parsed = new URL(url);
      parsed.host = `127.0.0.1:${port}`;
      return parsed.toString();
    },
    cut() {
      mode = 'cut';
      for (const socket of open) socket.resetAndDestroy();
    },
    blackHole() {
      mode = 'blackHole';
      for (const { client, upstream } of connections) {
        client.unpipe();
        upstream?.unpipe();
        client.pause();
        upstream?.pause();
      }
    },
    retarget(port) {
      target = port;
      for (const socket of open) socket.resetAndDestroy();
    },
    restore() {
      const wasBlackHole = mode === 'blackHole';
      mode = 'open';
      if (wasBlackHole) for (const connection of connections) flow(connection);
    },
    close() {
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
