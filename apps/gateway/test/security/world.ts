/**
 * The population the security tests act on: one practice with a manager, two clinicians and patients
 * whose conversations stand in every relation the authorisation matrix names, a second practice with
 * a patient, and tokens that must be refused (a revoked device, an expired session).
 *
 * Practice A
 * - clinician C (`clinician`) holds conversation `mine` (patient P's) and is at their cap of 1;
 * - clinician C2 (the colleague) holds conversation `colleague` (patient P2's) and is at their cap of 1;
 * - conversation `waiting` (patient P3's) sits in the queue: nobody has room for it;
 * - follow-ups: one owned by C (`mine`), one by C2 (`colleague`).
 * Practice B
 * - patient X (`other-practice-patient`).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ParleyClient } from '@parley/client';
import { certifyPatientAccountKey } from '@parley/crypto';
import type { CodeIssued, FollowUp } from '@parley/protocol';
import type { DataSource } from 'typeorm';
import { patientChat, type Chatter } from '../chat.js';
import {
  activatePatient,
  activateStaff,
  apiOk,
  connectAs,
  createPracticeWithStaff,
  signIn,
  type TestPatient,
  type TestPractice,
  type TestStaff,
} from '../factories.js';
import { waitUntil } from '../wait.js';

/** Who calls: the roles of the authorisation matrix. */
export const ROLES = ['anonymous', 'patient', 'other-practice-patient', 'clinician', 'manager', 'revoked-device', 'expired-session'] as const;
export type MatrixRole = (typeof ROLES)[number];

/** Roles that hold a live session. The others cannot open a socket at all. */
export const LIVE_ROLES = ['patient', 'other-practice-patient', 'clinician', 'manager'] as const satisfies readonly MatrixRole[];
export type LiveRole = (typeof LIVE_ROLES)[number];

/** What the request is about, seen from the caller. */
export const RELATIONS = ['own', 'other-patients', 'assigned-to-me', 'colleagues', 'unassigned'] as const;
export type Relation = (typeof RELATIONS)[number];

/** The world's conversations, by what they are in practice A. */
export interface Conversations {
  /** Patient P's, assigned to clinician C. */
  mine: string;
  /** Patient P2's, assigned to clinician C2. */
  colleague: string;
  /** Patient P3's, waiting in the queue. */
  waiting: string;
}

export interface World {
  url: string;
  dataSource: DataSource;
  practice: TestPractice;
  otherPractice: TestPractice;
  colleague: TestStaff;
  patient: TestPatient;
  otherPatient: TestPatient;
  waitingPatient: TestPatient;
  foreignPatient: TestPatient;
  conversations: Conversations;
  followUps: { mine: string; colleague: string };
  /** A bearer token for every role (none for `anonymous`). */
  tokens: Record<MatrixRole, string | undefined>;
  /** The signed-in user behind a live role. */
  who: Record<LiveRole, TestStaff | TestPatient>;
  /** Chat sessions opened while building the world (closed by `close`). */
  chats: Chatter[];
  clients: ParleyClient[];
  close(): void;
}

const tomorrow = (): string => new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

/** A conversation's state as the matrix checks it did not change after a refusal. */
export async function conversationState(dataSource: DataSource, id: string): Promise<unknown> {
  const [row] = await dataSource.query(`SELECT status, assigned_clinician_id, last_seq, outcome FROM conversations WHERE id = $1`, [id]);
  return row;
}

/** Builds the world on a running gateway (see the module comment). */
export async function buildWorld(gateway: { url: string; dataSource: DataSource }): Promise<World> {
  const { url, dataSource } = gateway;
  const chats: Chatter[] = [];
  const clients: ParleyClient[] = [];
  const practice = await createPracticeWithStaff(gateway);
  const otherPractice = await createPracticeWithStaff(gateway, { name: 'Other Surgery' });

  const manager = await connectAs(url, practice.manager, 10_000);
  const clinician = await connectAs(url, practice.clinician, 10_000);
  clients.push(manager, clinician);
  const setCap = async (clinicianId: string, maxConcurrent: number) => {
    const answer = await manager.request('capacity:set-clinician', { clinicianId, maxConcurrent, dailyMax: null });
    if (!answer.ok) throw new Error(`setting a cap failed: ${answer.error.code}`);
  };
  await setCap(practice.clinician.userId, 3);
  await clinician.request('staff:availability', { availability: 'available' });

  const isAssigned = async (id: string, to: string) =>
    ((await conversationState(dataSource, id)) as { assigned_clinician_id: string | null }).assigned_clinician_id === to;
  const open = async (patient: TestPatient, assignee?: string): Promise<string> => {
    const chat = await patientChat(url, practice, patient, 10_000);
    chats.push(chat);
    const { id } = await chat.session.openConversation('admin');
    if (assignee) await waitUntil(() => isAssigned(id, assignee), `conversation ${id} to be assigned`, 20_000);
    return id;
  };
  const closeWithFollowUp = async (id: string, ownerId: string): Promise<string> => {
    const answer = await clinician.request('conversation:close', { conversationId: id, outcome: 'follow_up', followUp: { dueDate: tomorrow(), ownerId } });
    if (!answer.ok) throw new Error(`closing failed: ${answer.error.code}`);
    const list = await clinician.request('follow-up:list', {});
    if (!list.ok) throw new Error('listing follow-ups failed');
    return list.data.followUps.find((followUp: FollowUp) => followUp.conversationId === id)!.id;
  };

  const colleagueEmail = `colleague.${randomUUID().slice(0, 8)}@test.parley`;
  const issued = await apiOk<CodeIssued>(
    url,
    'POST',
    '/api/staff',
    { token: practice.manager.token, body: { displayName: 'Dr Jo Rivers', email: colleagueEmail, roles: ['clinician'] } },
    201,
  );
  const colleague = await activateStaff(url, practice.odsCode, issued.code, { userId: issued.userId, email: colleagueEmail, roles: ['clinician'] });

  const patient = await activatePatient(url, practice, { displayName: 'Pat Own' });
  // Practice-assisted recovery's root certificate over P's account key (beside the invitation chain every patient has).
  const accountCertificate = certifyPatientAccountKey(
    { patientId: patient.userId, signPublicKey: patient.account.signPublicKey, boxPublicKey: patient.account.boxPublicKey },
    practice.root.signSecretKey,
  );
  await apiOk(url, 'PUT', `/api/users/${patient.userId}/account-key-certificate`, {
    token: practice.manager.token,
    body: { certificate: Buffer.from(accountCertificate.signature).toString('base64') },
  });
  const otherPatient = await activatePatient(url, practice, { displayName: 'Pat Other' });
  const waitingPatient = await activatePatient(url, practice, { displayName: 'Pat Waiting' });
  const foreignPatient = await activatePatient(url, otherPractice, { displayName: 'Pat Foreign' });

  const followUpMine = await closeWithFollowUp(await open(patient, practice.clinician.userId), practice.clinician.userId);
  const followUpColleague = await closeWithFollowUp(await open(patient, practice.clinician.userId), colleague.userId);
  const mine = await open(patient, practice.clinician.userId);
  await setCap(practice.clinician.userId, 1);

  const colleagueClient = await connectAs(url, colleague, 10_000);
  clients.push(colleagueClient);
  await setCap(colleague.userId, 1);
  await colleagueClient.request('staff:availability', { availability: 'available' });
  const colleagueConversation = await open(otherPatient, colleague.userId);
  const waiting = await open(waitingPatient);

  // A manager's second device, revoked; a clinician's second session, expired.
  const revoked = await signIn(url, { practice: practice.odsCode, login: practice.manager.email, label: 'Lost laptop' });
  await apiOk(url, 'POST', `/api/devices/${revoked.session.deviceId}/revoke`, { token: practice.manager.token });
  const expired = await signIn(url, { practice: practice.odsCode, login: practice.clinician.email, deviceId: practice.clinician.deviceId });
  await dataSource.query(
    `UPDATE sessions SET created_at = now() - interval '2 hours', last_seen_at = now() - interval '2 hours', expires_at = now() - interval '1 minute' WHERE token_hash = $1`,
    [createHash('sha256').update(expired.token).digest()],
  );

  return {
    url,
    dataSource,
    practice,
    otherPractice,
    colleague,
    patient,
    otherPatient,
    waitingPatient,
    foreignPatient,
    conversations: { mine, colleague: colleagueConversation, waiting },
    followUps: { mine: followUpMine, colleague: followUpColleague },
    tokens: {
      anonymous: undefined,
      patient: patient.token,
      'other-practice-patient': foreignPatient.token,
      clinician: practice.clinician.token,
      manager: practice.manager.token,
      'revoked-device': revoked.token,
      'expired-session': expired.token,
    },
    who: { patient, 'other-practice-patient': foreignPatient, clinician: practice.clinician, manager: practice.manager },
    chats,
    clients,
    close() {
      for (const chat of chats) void chat.session.close();
      for (const client of clients) client.close();
    },
  };
}
