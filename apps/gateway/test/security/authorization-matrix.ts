/**
 * The authorisation matrix, as data: for every socket command and HTTP route, who may do what to
 * which object. Everything not listed under `allow` is denied (default deny), and the spec
 * (`authorization.e2e.spec.ts`) runs every cell — role × relation — against a real gateway.
 *
 * A cell of `allow` names what the call answers once authorisation has let it through: `ok`, or the
 * business refusal the world's state provokes (e.g. `at_capacity` for a clinician already at their
 * cap). The point is that the refusal is *not* `unauthorized`, `forbidden` or `not_found`: the call
 * got past every authorisation check. A denied cell must answer one of those three (or the handshake
 * must refuse the socket), and the object must be left as it was.
 *
 * Relations, seen from the caller (see `world.ts` for the objects behind them):
 * - conversations: `own` (a patient's own), `other-patients` (another patient's, or for another
 *   practice's patient, one of practice A), `assigned-to-me`, `colleagues` (assigned to a colleague),
 *   `unassigned` (waiting in the queue);
 * - follow-ups: `own` (the caller owns it) or `colleagues`;
 * - devices: `own` (the caller's own device) or `colleagues` (a colleague's, for staff; another patient's, for patients);
 * - patient accounts: `own` (the caller's own, or for staff a patient of their practice) or
 *   `other-patients` (another patient's; for staff, a patient of another practice).
 */
import type { ErrorCode } from '@parley/protocol';
import { LIVE_ROLES, ROLES, type LiveRole, type MatrixRole, type Relation } from './world.js';

/** What the object of a call is, which decides the relations the matrix walks. */
export type Scope = 'none' | 'conversation' | 'follow-up' | 'device' | 'patient-account';

/** The answer an allowed cell expects. */
export type Allowed = 'ok' | Exclude<ErrorCode, 'unauthorized' | 'forbidden' | 'not_found'>;

export interface Policy {
  scope: Scope;
  /** No session needed (sign-in and its friends, health, version): a token must change nothing. */
  isPublic?: true;
  /** Refusals besides unauthorized / forbidden / not_found that count as a denial here (e.g. `conflict`: that id is someone else's). */
  alsoDeniedAs?: readonly ErrorCode[];
  /** The allowed cells; anything else is denied. */
  allow: Partial<Record<LiveRole, Partial<Record<Relation, Allowed>>>>;
}

/** The relations each role is tried in, per scope (the objects behind them are in `world.ts`). */
export function relationsFor(scope: Scope, role: MatrixRole): readonly Relation[] {
  if (scope === 'none') return ['own'];
  if (scope === 'conversation') {
    switch (role) {
      case 'patient':
        return ['own', 'other-patients'];
      case 'clinician':
        return ['assigned-to-me', 'colleagues', 'unassigned'];
      case 'manager':
        return ['colleagues', 'unassigned'];
      default:
        return ['other-patients'];
    }
  }
  if (scope === 'patient-account') return role === 'patient' || role === 'clinician' || role === 'manager' ? ['own', 'other-patients'] : ['other-patients'];
  return ['own', 'colleagues'];
}

const everyLiveRole = (allowed: Allowed = 'ok'): Policy['allow'] => Object.fromEntries(LIVE_ROLES.map((role) => [role, { own: allowed }]));
const staff = (allowed: Allowed = 'ok'): Policy['allow'] => ({ clinician: { own: allowed }, manager: { own: allowed } });
/** Readers of a conversation: its patient, and any staff of its practice (every staff read is audited). */
const conversationReaders = (allowed: Allowed = 'ok'): Policy['allow'] => ({
  patient: { own: allowed },
  clinician: { 'assigned-to-me': allowed, colleagues: allowed, unassigned: allowed },
  manager: { colleagues: allowed, unassigned: allowed },
});

/** Socket commands. */
export const COMMAND_POLICIES: Record<string, Policy> = {
  'system:ping': { scope: 'none', allow: everyLiveRole() },
  // Retrying an open of one's own conversation returns it; someone else's id is `conflict` (id taken) — see the deny codes below.
  'conversation:open': { scope: 'conversation', alsoDeniedAs: ['conflict'], allow: { patient: { own: 'ok' } } },
  'conversation:list': { scope: 'none', allow: everyLiveRole() },
  'conversation:join': { scope: 'conversation', allow: conversationReaders() },
  'conversation:sync': { scope: 'conversation', allow: conversationReaders() },
  'conversation:typing': { scope: 'conversation', allow: conversationReaders() },
  'conversation:receipt': { scope: 'conversation', allow: conversationReaders() },
  // Staff read any conversation of their practice but answer only those assigned to them.
  'conversation:send': { scope: 'conversation', allow: { patient: { own: 'ok' }, clinician: { 'assigned-to-me': 'ok' } } },
  'hours:get': { scope: 'none', allow: everyLiveRole() },
  // Only clinicians claim; in the world every clinician is at their cap, so the claim gets that far and no further.
  'conversation:claim': { scope: 'conversation', allow: { clinician: { 'assigned-to-me': 'conflict', colleagues: 'conflict', unassigned: 'at_capacity' } } },
  'queue:list': { scope: 'none', allow: staff() },
  'staff:availability': { scope: 'none', allow: { clinician: { own: 'ok' } } },
  'capacity:set-clinician': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'capacity:set-practice': { scope: 'none', allow: { manager: { own: 'ok' } } },
  // The assignee or a manager; the cell hands it to whoever holds it already, so it is refused as `conflict` after authorisation.
  'conversation:transfer': {
    scope: 'conversation',
    alsoDeniedAs: ['conflict'],
    allow: { clinician: { 'assigned-to-me': 'conflict' }, manager: { colleagues: 'conflict', unassigned: 'conflict' } },
  },
  // Only the assignee; asking for the state it is in changes nothing. A waiting conversation is refused for its state
  // (`conflict`) before its assignee is looked at: a denial all the same, and the spec checks nothing changed.
  'conversation:hold': { scope: 'conversation', alsoDeniedAs: ['conflict'], allow: { clinician: { 'assigned-to-me': 'ok' } } },
  // The assignee or a manager asks the patient for a photo or document (a record entry, metadata only).
  'conversation:request-attachment': {
    scope: 'conversation',
    allow: { clinician: { 'assigned-to-me': 'ok' }, manager: { colleagues: 'ok', unassigned: 'ok' } },
  },
  // The assignee or a manager (who may also close a waiting one). Runs last: it closes them.
  'conversation:close': { scope: 'conversation', allow: { clinician: { 'assigned-to-me': 'ok' }, manager: { colleagues: 'ok', unassigned: 'ok' } } },
  'follow-up:list': { scope: 'none', allow: staff() },
  // The manager's dashboard (the practice's live figures).
  'dashboard:get': { scope: 'none', allow: { manager: { own: 'ok' } } },
  // A patient's device marks its own open conversation urgent (after the red-flag advice); staff never do.
  'conversation:urgent': { scope: 'conversation', allow: { patient: { own: 'ok' } } },
  // Those who may write in it, and a manager (offboarding renews every conversation a leaver could read). The cell asks
  // for an epoch past the next one, so it is refused `conflict` after authorisation and the world keeps epoch 1.
  'conversation:epoch': {
    scope: 'conversation',
    allow: { patient: { own: 'conflict' }, clinician: { 'assigned-to-me': 'conflict' }, manager: { colleagues: 'conflict', unassigned: 'conflict' } },
  },
  // Its owner or a manager.
  'follow-up:done': { scope: 'follow-up', allow: { clinician: { own: 'ok' }, manager: { own: 'ok', colleagues: 'ok' } } },
};

/** HTTP routes, as `METHOD /path` with Express's `:param` placeholders. */
export const ROUTE_POLICIES: Record<string, Policy> = {
  'GET /health/live': { scope: 'none', isPublic: true, allow: {} },
  'GET /health/ready': { scope: 'none', isPublic: true, allow: {} },
  'GET /api/version': { scope: 'none', isPublic: true, allow: {} },
  // Guarded by METRICS_TOKEN (not a session): unset it answers 404, and a session token changes nothing.
  'GET /metrics': { scope: 'none', isPublic: true, allow: {} },
  'POST /api/auth/prelogin': { scope: 'none', isPublic: true, allow: {} },
  'POST /api/auth/invitation': { scope: 'none', isPublic: true, allow: {} },
  'POST /api/auth/activate': { scope: 'none', isPublic: true, allow: {} },
  'POST /api/auth/sign-in': { scope: 'none', isPublic: true, allow: {} },
  'POST /api/auth/sign-out': { scope: 'none', allow: everyLiveRole() },
  'POST /api/auth/sign-out-everywhere': { scope: 'none', allow: everyLiveRole() },
  'GET /api/keys/backup': { scope: 'none', allow: { patient: { own: 'ok' }, 'other-practice-patient': { own: 'ok' } } },
  'PUT /api/keys/backup': { scope: 'none', allow: { patient: { own: 'ok' }, 'other-practice-patient': { own: 'ok' } } },
  // A patient's enrolment material (account key chain, devices, envelopes sealed to the account key): their own only.
  'GET /api/keys/account': { scope: 'none', allow: { patient: { own: 'ok' }, 'other-practice-patient': { own: 'ok' } } },
  // The manager certifies a patient of their own practice (practice-assisted recovery); the world's patient's key is certified already.
  'PUT /api/users/:id/account-key-certificate': { scope: 'patient-account', allow: { manager: { own: 'conflict' } } },
  'POST /api/invitations': { scope: 'none', allow: staff() },
  'POST /api/staff': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'GET /api/devices': { scope: 'none', allow: everyLiveRole() },
  // One's own device only (the cell revokes a throwaway one).
  'POST /api/devices/:id/revoke': {
    scope: 'device',
    allow: { patient: { own: 'ok' }, 'other-practice-patient': { own: 'ok' }, clinician: { own: 'ok' }, manager: { own: 'ok' } },
  },
  // A patient certifies their own devices, once (all certified already here); a manager admits the practice's
  // staff devices, again if need be (re-admission after a rename); a clinician neither.
  'PUT /api/devices/:id/certificate': {
    scope: 'device',
    allow: { patient: { own: 'conflict' }, 'other-practice-patient': { own: 'conflict' }, manager: { own: 'ok', colleagues: 'ok' } },
  },
  'GET /api/hours': { scope: 'none', allow: everyLiveRole() },
  'PUT /api/hours/weekly': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'PUT /api/hours/exceptions/:date': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'DELETE /api/hours/exceptions/:date': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'PUT /api/hours/settings': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'GET /api/audit': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'GET /api/people': { scope: 'none', allow: staff() },
  'GET /api/practice/terms': { scope: 'none', allow: everyLiveRole() },
  'POST /api/practice/terms': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'POST /api/practice/terms/consent': { scope: 'none', allow: { patient: { own: 'ok' } } },
  // Pinned once, when the practice is set up: a second time is `conflict`.
  'PUT /api/practice/root-key': { scope: 'none', allow: { manager: { own: 'conflict' } } },
  'POST /api/practice/record-keys': { scope: 'none', allow: { manager: { own: 'conflict' } } },
  'POST /api/practice/record-key-grants': { scope: 'none', allow: { manager: { own: 'conflict' } } },
  // Signatures made up by the matrix do not verify under the practice's root: `conflict` once authorised, nothing stored.
  'POST /api/practice/admin-keys': { scope: 'none', allow: { manager: { own: 'conflict' } } },
  'POST /api/practice/root-successors': { scope: 'none', allow: { manager: { own: 'conflict' } } },
  'POST /api/practice/record-key-certifications': { scope: 'none', allow: { manager: { own: 'conflict' } } },
  'GET /api/practice/keys': { scope: 'none', allow: everyLiveRole() },
  'GET /api/practice/revocations': { scope: 'none', allow: everyLiveRole() },
  'PUT /api/practice/revocations': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'GET /api/practice/settings': { scope: 'none', allow: everyLiveRole() },
  'PUT /api/practice/categories': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'PUT /api/practice/texts': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'PUT /api/practice/patient-limits': { scope: 'none', allow: { manager: { own: 'ok' } } },
  // Staff console (canned replies, patient search, staff management): practice boilerplate is for its staff,
  // written by its managers; finding patients is for staff; managing colleagues is for managers.
  'GET /api/practice/canned-replies': { scope: 'none', allow: staff() },
  'POST /api/practice/canned-replies': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'PUT /api/practice/canned-replies/:id': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'DELETE /api/practice/canned-replies/:id': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'GET /api/patients': { scope: 'none', allow: staff() },
  'GET /api/staff': { scope: 'none', allow: { manager: { own: 'ok' } } },
  // Staff note an export (built and decrypted in their browser) of any conversation of their practice: audited.
  'POST /api/conversations/:id/exports': {
    scope: 'conversation',
    allow: { clinician: { 'assigned-to-me': 'ok', colleagues: 'ok', unassigned: 'ok' }, manager: { colleagues: 'ok', unassigned: 'ok' } },
  },
  'POST /api/staff/:userId/devices/:deviceId/revoke': { scope: 'none', allow: { manager: { own: 'ok' } } },
  'POST /api/staff/:userId/offboard': { scope: 'none', allow: { manager: { own: 'ok' } } },
  // Practice-assisted recovery (flow B). The patient's side needs no session (a random lookup id finds nothing).
  'POST /api/auth/recovery': { scope: 'none', isPublic: true, allow: {} },
  'POST /api/auth/recovery/submit': { scope: 'none', isPublic: true, allow: {} },
  // Staff start one; the cell's expiry is in the past, so an authorised caller is refused `invalid_payload` and nothing is stored.
  'POST /api/recoveries': { scope: 'none', allow: staff('invalid_payload') },
  'GET /api/recoveries': { scope: 'none', allow: staff() },
  // A random recovery id: nobody finds it (the rules of approving and completing are in e2e/recovery.e2e.spec.ts).
  'POST /api/recoveries/:id/approvals': { scope: 'none', allow: {} },
  'GET /api/recoveries/:id/history': { scope: 'none', allow: {} },
  'POST /api/recoveries/:id/complete': { scope: 'none', allow: {} },
  'GET /api/staff/:userId/offboarding': { scope: 'none', allow: { manager: { own: 'ok' } } },
  // Attachments (issue #18). Any reader of a conversation may start an upload in it; the cell asks for a type the world's
  // practice does not accept, so an authorised start is refused `invalid_payload` (after authorisation, before the
  // closed check: the commands' last cells close the world's conversations) and nothing is stored.
  'POST /api/attachments/uploads': { scope: 'conversation', allow: conversationReaders('invalid_payload') },
  // The rest are about an upload of patient P's device (made for each cell): P's alone; anyone else finds nothing.
  'PUT /api/attachments/uploads/:uploadId/chunks/:index': { scope: 'none', allow: { patient: { own: 'ok' } } },
  'GET /api/attachments/uploads/:uploadId': { scope: 'none', allow: { patient: { own: 'ok' } } },
  // The cell's upload has no parts yet: its uploader is told how many are missing.
  'POST /api/attachments/uploads/:uploadId/complete': { scope: 'none', allow: { patient: { own: 'conflict' } } },
  'DELETE /api/attachments/uploads/:uploadId': { scope: 'none', allow: { patient: { own: 'ok' } } },
  // A complete upload no message references yet: only its uploader reads it (members read it once a message does).
  'GET /api/attachments/:uploadId': { scope: 'none', allow: { patient: { own: 'ok' } } },
  'GET /api/practice/attachment-settings': { scope: 'none', allow: everyLiveRole() },
  'PUT /api/practice/attachment-settings': { scope: 'none', allow: { manager: { own: 'ok' } } },
  // Notifications (issue #19). A push subscription and a text/e-mail contact are a patient's own, always of the caller's
  // device or account (no id in the path); the spec's gateway has the Notify channel configured for text messages.
  'GET /api/push/vapid-public-key': { scope: 'none', allow: { patient: { own: 'ok' }, 'other-practice-patient': { own: 'ok' } } },
  'PUT /api/push/subscription': { scope: 'none', allow: { patient: { own: 'ok' }, 'other-practice-patient': { own: 'ok' } } },
  // Deleting the caller's device's subscription (none is fine) is harmless for anyone signed in.
  'DELETE /api/push/subscription': { scope: 'none', allow: everyLiveRole() },
  'GET /api/notifications/channels': { scope: 'none', allow: everyLiveRole() },
  'PUT /api/notifications/contact': { scope: 'none', allow: { patient: { own: 'ok' }, 'other-practice-patient': { own: 'ok' } } },
  'DELETE /api/notifications/contact': { scope: 'none', allow: { patient: { own: 'ok' }, 'other-practice-patient': { own: 'ok' } } },
  'GET /api/practice/notification-settings': { scope: 'none', allow: everyLiveRole() },
  'PUT /api/practice/notification-settings': { scope: 'none', allow: { manager: { own: 'ok' } } },
};

/** One cell of the matrix, expanded. */
export interface Row {
  endpoint: string;
  kind: 'command' | 'route';
  role: MatrixRole;
  relation: Relation;
  expected: Allowed | 'deny';
}

/** Every cell of one endpoint: each role in each relation its scope has, default deny. */
export function rowsOf(kind: Row['kind'], endpoint: string, policy: Policy): Row[] {
  return ROLES.flatMap((role) =>
    relationsFor(policy.scope, role).map((relation) => ({
      endpoint,
      kind,
      role,
      relation,
      expected: (LIVE_ROLES as readonly string[]).includes(role) ? (policy.allow[role as LiveRole]?.[relation] ?? 'deny') : 'deny',
    })),
  );
}

/** Answers that count as a refusal by authorisation. */
export const DENIAL_CODES: readonly ErrorCode[] = ['unauthorized', 'forbidden', 'not_found'];
