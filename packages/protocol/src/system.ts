import { z } from 'zod';

/** `system:ping` takes no fields; unknown ones are refused. */
export const SystemPing = z.object({}).strict();
export type SystemPing = z.infer<typeof SystemPing>;

/** What `system:ping` answers: lets a client check it speaks the server's protocol version. */
export const SystemPong = z.object({
  protocolVersion: z.number().int(),
  serverTime: z.iso.datetime(),
});
export type SystemPong = z.infer<typeof SystemPong>;
