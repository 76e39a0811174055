/**
 * The baselines the gateway is compared with, run as their own process like the gateway:
 * - `relay`: a bare socket.io relay — join a room, send with ack, the message goes to the room. No auth, no validation, no database.
 * - `pg-insert`: the same, plus one INSERT per message in autocommit (raw `pg`, a pool of 10 like the gateway's) before the ack.
 * Started with `fork(this, [mode, databaseUrl?])`; tells the parent its port over IPC.
 */
import { createServer } from 'node:http';
import pg from 'pg';
import { Server } from 'socket.io';

const [mode, databaseUrl] = process.argv.slice(2);

interface SendFrame {
  from: string;
  send: { conversationId: string; clientMessageId: string; epoch: number; senderDeviceSeq: number; contentType: string; ciphertext: string; nonce: string };
}

async function main(): Promise<void> {
  const pool = mode === 'pg-insert' ? new pg.Pool({ connectionString: databaseUrl, max: 10 }) : undefined;
  if (pool) {
    await pool.query(`CREATE TABLE IF NOT EXISTS baseline_messages (
      id bigserial PRIMARY KEY, conversation_id uuid NOT NULL, sender_device_id uuid NOT NULL, client_message_id uuid NOT NULL,
      sender_device_seq bigint NOT NULL, ciphertext bytea NOT NULL, nonce bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
  }
  const http = createServer();
  // The same frame limit as the gateway.
  const io = new Server(http, { serveClient: false, maxHttpBufferSize: 256 * 1024, transports: ['websocket'] });
  io.on('connection', (socket) => {
    socket.on('join', async (payload: { room: string }, ack: (answer: unknown) => void) => {
      await socket.join(payload.room);
      ack({ ok: true });
    });
    socket.on('send', async (frame: SendFrame, ack: (answer: unknown) => void) => {
      try {
        if (pool) {
          await pool.query(
            `INSERT INTO baseline_messages (conversation_id, sender_device_id, client_message_id, sender_device_seq, ciphertext, nonce) VALUES ($1, $2, $3, $4, $5, $6)`,
            [
              frame.send.conversationId,
              frame.from,
              frame.send.clientMessageId,
              frame.send.senderDeviceSeq,
              Buffer.from(frame.send.ciphertext, 'base64'),
              Buffer.from(frame.send.nonce, 'base64'),
            ],
          );
        }
        ack({ ok: true });
        io.to(frame.send.conversationId).emit('relayed', frame);
      } catch {
        ack({ ok: false });
      }
    });
  });
  http.listen(0, '127.0.0.1', () => {
    const address = http.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

void main();
