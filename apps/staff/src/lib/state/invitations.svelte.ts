import { HttpApi } from '@parley/client';
import { invitationLink } from '@parley/sdk';
import { contextPair } from '@parley/ui';
import { config } from '../config';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/**
 * Where invitation links point: the patient app as the gateway names it (its PUBLIC_URL, required when the staff
 * app has an origin of its own), else this origin's root, where the demo serves it. @throws the failure when no answer came
 */
async function patientAppUrl(): Promise<string> {
  const result = await new HttpApi({ baseUrl: config.gatewayUrl, timeoutMs: 5_000 }).version();
  if (!result.ok) throw result.error;
  return result.data.patientAppUrl ?? config.patientAppUrl;
}

/** An invitation as this browser made it: the code exists here and on the patient's letter, nowhere else. */
export interface IssuedPatientInvitation {
  patientName: string;
  dateOfBirth: string;
  code: string;
  /** The code's groups, to read aloud one at a time. */
  groups: string[];
  /** The patient app with the practice and code in the fragment, which browsers never send to a server. */
  link: string;
  expiresAt: Date;
  /** The practice security code: the fingerprint of the root key this browser pinned. */
  securityCode: string;
}

/** Any clinician or manager whose device is admitted: invites a patient, and shows the code once. */
export class InvitationsState {
  /** The invitation just made; dropped by `forget()` and never kept anywhere else. */
  issued = $state.raw<IssuedPatientInvitation | null>(null);
  notice = $state<string | null>(null);
  isBusy = $state(false);

  constructor(private readonly connection: StaffConnection) {}

  get practiceName(): string {
    return this.connection.signedIn.session.practice.name;
  }

  /** Makes the invitation in this browser (the code is never sent); on failure `notice` says why. */
  async invite(patient: { displayName: string; nhsNumber: string; dateOfBirth: string }): Promise<boolean> {
    this.isBusy = true;
    this.issued = null;
    this.notice = null;
    try {
      const appUrl = await patientAppUrl();
      const made = await this.connection.invitePatient({
        ...patient,
        displayName: patient.displayName.trim(),
        nhsNumber: patient.nhsNumber.replace(/\s/g, ''),
      });
      this.issued = {
        patientName: patient.displayName.trim(),
        dateOfBirth: patient.dateOfBirth,
        code: made.code,
        groups: made.code.split('-'),
        link: invitationLink(appUrl, this.connection.signedIn.session.practice.odsCode, made.code),
        expiresAt: new Date(made.expiresAt),
        securityCode: made.securityCode,
      };
      return true;
    } catch (error) {
      this.notice = describeInvitationError((error as { code?: string }).code);
      return false;
    } finally {
      this.isBusy = false;
    }
  }

  /** Drops the code from this page (the person has given it to the patient, or left the screen). */
  forget(): void {
    this.issued = null;
  }
}

function describeInvitationError(code: string | undefined): string {
  switch (code) {
    case 'forbidden':
      return 'This computer is not admitted yet, so it cannot invite patients. Ask your practice manager to admit it, then try again.';
    case 'conflict':
      return 'A patient with this NHS number already has an account or an invitation.';
    case 'invalid_payload':
      return 'Check the name, the NHS number (10 digits) and the date of birth.';
    default:
      return explain(code ?? 'internal');
  }
}

export const [setInvitationsState, getInvitationsState] = contextPair<InvitationsState>('invitations');
