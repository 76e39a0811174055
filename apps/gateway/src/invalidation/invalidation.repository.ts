import { Injectable } from '@nestjs/common';
import pg from 'pg';
import { DataSource } from 'typeorm';

/** The channel the migration's triggers notify (database/migrations/1764870000000-invalidation-notify.ts). */
export const INVALIDATION_CHANNEL = 'parley_invalidate';

/** A connection that listens on INVALIDATION_CHANNEL. */
export interface ListenerConnection {
  /** The PostgreSQL backend's process id (what `pg_terminate_backend` takes). */
  readonly pid: number;
  close(): Promise<void>;
}

/**
 * The one dedicated connection each node holds to hear the database's change notifications. It is not taken from the
 * pool: a LISTEN lasts as long as its session, and a pooled connection is handed to other queries.
 */
@Injectable()
export class InvalidationRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Opens a connection and LISTENs. `onPayload` gets each notification's payload, synchronously as it is read;
   * `onLost` is called once when the connection fails or ends (not after `close`). Rejects when it cannot listen.
   */
  async listen(onPayload: (payload: string) => void, onLost: (error?: Error) => void): Promise<ListenerConnection> {
    // The pool's own URL (data-source.ts builds every DataSource from one): the same server, database and credentials.
    const { url } = this.dataSource.options as { url?: string };
    const client = new pg.Client({ connectionString: url, application_name: 'parley-gateway-listener', connectionTimeoutMillis: 5_000, keepAlive: true });
    let isOver = false;
    const lost = (error?: Error) => {
      if (isOver) return;
      isOver = true;
      onLost(error);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => {
      if (!isOver && message.channel === INVALIDATION_CHANNEL && message.payload) onPayload(message.payload);
    });
    let pid: number;
    try {
      await client.connect();
      await client.query(`LISTEN ${INVALIDATION_CHANNEL}`);
      pid = (await client.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`)).rows[0]?.pid ?? 0;
    } catch (error: unknown) {
      isOver = true;
      await client.end().catch(() => undefined);
      throw error;
    }
    return {
      pid,
      close: async () => {
        isOver = true;
        await client.end().catch(() => undefined);
      },
    };
  }
}
