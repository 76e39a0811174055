import type { Ack } from './ack.js';
import type { SystemPing, SystemPong } from './system.js';

/** Commands a client sends; each answers through its ack. */
export interface ClientToServer {
  'system:ping': (payload: SystemPing, ack: (result: Ack<SystemPong>) => void) => void;
}

/** Facts the server pushes to clients. */
// Server facts arrive with the messaging issue (#3).
export interface ServerToClient {}

/** The command names, for code that must enumerate them (validation tables, the authorisation matrix). */
export type CommandName = keyof ClientToServer;
/** The payload type of a command. */
export type CommandPayload<E extends CommandName> = Parameters<ClientToServer[E]>[0];
/** The success data a command's ack carries. */
export type CommandResult<E extends CommandName> =
  Parameters<Parameters<ClientToServer[E]>[1]>[0] extends Ack<infer T> ? T : never;

/** Every command name, at run time: the gateway answers any other event as unknown. */
export const COMMAND_NAMES = ['system:ping'] as const satisfies readonly CommandName[];
// Fails to compile when a command is added to ClientToServer but not to COMMAND_NAMES.
const everyCommandListed: [Exclude<CommandName, (typeof COMMAND_NAMES)[number]>] extends [never] ? true : never = true;
void everyCommandListed;
