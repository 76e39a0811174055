import { z } from 'zod';

/** `system:ping` takes no fields; unknown ones are refused. */
export const SystemPing = z.object({}).strict();
export type SystemPing = z.infer<typeof SystemPing>;

/** What `system:ping` answers: lets a client check it speaks the server's protocol version. */
export const SystemPong = z.object({
  protocolVersion: z.number().int(),
  serverTime: z.iso.datetime(),
  /**
   * `GET /api/version` only: where patients open the app (the gateway's PUBLIC_URL), or null when unset (the
   * apps then share one origin, the patient app at its root). A staff app on an origin of its own points
   * invitation links here.
   */
  patientAppUrl: z.url().nullable().optional(),
});
export type SystemPong = z.infer<typeof SystemPong>;
