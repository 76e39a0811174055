/** The app's only reader of its environment: the gateway that served the page is the one it talks to. */
export const config = Object.freeze({
  gatewayUrl: window.location.origin,
  /**
   * The patient app when both apps share this origin (the demo: the patient app at its root). On a staff origin of
   * its own the gateway names the patient app's address instead (`GET /api/version`, see invitations.svelte.ts).
   */
  patientAppUrl: `${window.location.origin}/`,
  /**
   * The console locks after this much inactivity (the patient app's default is 5): a staff screen shows many
   * patients' names and messages, often on a desk others pass, and a locked console takes no new patients
   * (docs/staff-client.md, "Staying signed in").
   */
  idleLockMinutes: 3,
  /** The Web Lock that lets one tab per browser hold the console. */
  connectionLockName: 'parley-staff-connection',
});
