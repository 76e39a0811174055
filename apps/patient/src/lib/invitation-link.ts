/**
 * An invitation link from the practice: `<app URL>#practice=<ODS code>&code=<XXXX-XXXX-XXXXX>`. The code
 * travels in the fragment, which browsers never send to a server; the app reads it once and removes it
 * from the address bar. The patient still types their date of birth.
 */
export interface InvitationLink {
  practice: string;
  code: string;
}

const PRACTICE = /^[A-Z0-9]{3,10}$/;
// Loose on purpose (the code is normalised and checked when it is used): letters, digits, dashes and spaces.
const CODE = /^[A-Za-z0-9 -]{13,40}$/;

/** Reads an invitation link's fragment (`#practice=…&code=…`); null when it is not one. */
export function parseInvitationLink(hash: string): InvitationLink | null {
  if (!hash.startsWith('#')) return null;
  const params = new URLSearchParams(hash.slice(1));
  const practice = params.get('practice')?.trim().toUpperCase() ?? '';
  const code = params.get('code')?.trim() ?? '';
  return PRACTICE.test(practice) && CODE.test(code) ? { practice, code } : null;
}
