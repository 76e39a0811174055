/** Whole minutes from a build-time variable, or the fallback when it is absent or not a positive number. */
function minutes(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return value !== undefined && Number.isInteger(parsed) && parsed > 0 ? parsed : fallback;
}

const env = import.meta.env as Record<string, string | undefined>;
/** @parley/protocol's PROTOCOL_VERSION, written in by vite.config.ts at build time. */
declare const __PROTOCOL_VERSION__: number;

/** The app's only reader of its environment (Vite build-time variables and the page's origin). */
export const config = Object.freeze({
  /** The gateway that served the page is the one it talks to. */
  gatewayUrl: window.location.origin,
  /** Default privacy lock after this much inactivity; the patient can choose another on the home screen. */
  idleLockMinutes: minutes(env['VITE_IDLE_LOCK_MINUTES'], 5),
  /** Where "Leave this site" goes: a neutral page, replacing this one in the history. */
  quickExitUrl: env['VITE_QUICK_EXIT_URL'] || 'https://www.bbc.co.uk/weather',
  /** The protocol version this build speaks (the landing screen compares it with the gateway's without loading @parley/protocol). */
  protocolVersion: __PROTOCOL_VERSION__,
  /** The IndexedDB database of this app (the staff app uses its own). */
  databaseName: 'parley-patient',
  /** The Web Lock that lets one tab per browser hold the live connection. */
  connectionLockName: 'parley-patient-connection',
});
