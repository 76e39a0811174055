/**
 * The baselines the gateway is compared with, run as their own process like the gateway:
 * - `relay`: a bare socket.io relay — join a room, send with ack, the message goes to the room. No auth, no validation, no database.
 * - `pg-insert`: the same, plus one INSERT per message in autocommit (raw `pg`, a pool of 10 like the gateway's) before the ack;
 *   and the attachments scenario's plain HTTP upload: `PUT /uploads/:id/parts/:index` stores the raw body with one INSERT
 *   (no auth, no checks, no limits) and answers 204; `DELETE /uploads/:id` removes an upload's parts.
 * Started with `fork(this, [mode, databaseUrl?])`; tells the parent its port over IPC.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
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
    await pool.query(`CREATE TABLE IF NOT EXISTS baseline_upload_parts (
      upload_id uuid NOT NULL, part_index int NOT NULL, bytes bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (upload_id, part_index))`);
  }
  const http = createServer((request, response) => void (pool ? uploads(pool, request, response) : answer(response, 404)));
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

const PART = /^\/uploads\/([0-9a-f-]{36})\/parts\/(\d{1,6})$/;
const UPLOAD = /^\/uploads\/([0-9a-f-]{36})$/;

/** The plain upload route: the part's body, read whole, then one INSERT; a DELETE for the bench's clean-up. */
async function uploads(pool: pg.Pool, request: IncomingMessage, response: ServerResponse): Promise<void> {
  try {
    const part = request.method === 'PUT' ? PART.exec(request.url ?? '') : null;
    if (part) {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      await pool.query('INSERT INTO baseline_upload_parts (upload_id, part_index, bytes) VALUES ($1, $2, $3)', [
        part[1],
        Number(part[2]),
        Buffer.concat(chunks),
      ]);
      return answer(response, 204);
    }
    const upload = request.method === 'DELETE' ? UPLOAD.exec(request.url ?? '') : null;
    if (upload) {
      await pool.query('DELETE FROM baseline_upload_parts WHERE upload_id = $1', [upload[1]]);
      return answer(response, 204);
    }
    answer(response, 404);
  } catch {
    answer(response, 500);
  }
}

function answer(response: ServerResponse, status: number): void {
  response.writeHead(status).end();
}

void main();
