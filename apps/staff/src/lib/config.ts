/** The app's only reader of its environment: the gateway that served the page is the one it talks to. */
export const config = Object.freeze({
  gatewayUrl: window.location.origin,
  /** The patient app, served by the same gateway at its root: invitation links point there. */
  patientAppUrl: `${window.location.origin}/`,
});
