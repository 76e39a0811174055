import {
  ERROR_CODES,
  type AccountEnrolment,
  type AccountKeyCertificateRequest,
  type ApproveRecoveryRequest,
  type CompleteRecoveryRequest,
  type RecoveryDetails,
  type RecoveryHistory,
  type RecoveryLookupRequest,
  type RecoverySummary,
  type StartRecoveryRequest,
  type SubmitRecoveryRequest,
  type ActivateRequest,
  type AddAdminKeyRequest,
  type AddRecordKeyGrantRequest,
  type AddRecordKeyRequest,
  type AddRootSuccessorRequest,
  type RecertifyRecordKeyRequest,
  type CodeIssued,
  type CreateInvitationRequest,
  type CreateStaffRequest,
  type DeviceCertificateRequest,
  type DeviceInfo,
  type SystemPong,
  type ErrorBody,
  type ErrorCode,
  type InvitationCreated,
  type InvitationDetails,
  type InvitationLookupRequest,
  type KeyBackup,
  type PracticeKeys,
  type PutRevocationListRequest,
  type RevocationListResponse,
  type PreloginRequest,
  type PreloginResponse,
  type SessionInfo,
  type SetRootKeyRequest,
  type SignInRequest,
  type CannedReply,
  type CannedReplyRequest,
  type OffboardingProgress,
  type OffboardResult,
  type PatientSearchQuery,
  type PatientSearchResult,
  type RecordExportRequest,
  type StaffMember,
  type AcceptTermsRequest,
  type PracticeSettings,
  type TermsConsent,
  type TermsStatus,
  type AttachmentSettings,
  type CreateUploadRequest,
  type UploadCreated,
  type UploadStatus,
  type NotificationChannels,
  type NotificationContactRequest,
  type NotificationSettings,
  type PushSubscriptionRequest,
  type VapidPublicKey,
} from '@parley/protocol';
import type { TokenSource } from './parley-client.js';

/** Body of `PUT /api/devices/:id/certificate` (the protocol exports only its schema). */
export type DeviceCertificateBody = (typeof DeviceCertificateRequest)['_output'];
/** Body of `PUT /api/practice/root-key` (the protocol exports only its schema). */
export type SetRootKeyBody = (typeof SetRootKeyRequest)['_output'];
/** Body of `PUT /api/users/:id/account-key-certificate` (the protocol exports only its schema). */
export type AccountKeyCertificateBody = (typeof AccountKeyCertificateRequest)['_output'];

/**
 * Why an HTTP call failed: the server's error code, `network` (no answer: offline, refused, timed
 * out) or `unexpected_response` (an answer that is not the API's, e.g. a proxy's error page).
 */
export interface HttpFailure {
  code: ErrorCode | 'network' | 'unexpected_response';
  message: string;
  /** The HTTP status, or null when no answer came. */
  status: number | null;
  /** The server's facts about the refusal (e.g. `retryAfterSeconds` with `rate_limited`), when it gave any. */
  details?: ErrorBody['details'];
}

/** What every {@link HttpApi} method resolves with; it never throws. */
export type HttpResult<T> = { ok: true; data: T } | { ok: false; error: HttpFailure };

/** Where the API is and how to call it. */
export interface HttpApiOptions {
  /** Base URL of the gateway, e.g. `http://127.0.0.1:3000` (or `''` for the page's own origin). */
  baseUrl: string;
  /** The session token, sent as `Authorization: Bearer` on every route but prelogin, invitation, activate and sign-in. */
  token?: TokenSource;
  /** A fetch implementation (tests); the platform's by default. */
  fetch?: typeof fetch;
  /** How long a call may wait for its answer before it fails as `network` (default 15 s). */
  timeoutMs?: number;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface Call {
  method: Method;
  path: string;
  /** A JSON body, or raw bytes sent as application/octet-stream (an upload part). */
  body?: unknown;
  /** Routes used before there is a session carry no token. */
  isPublic?: boolean;
  /** Overrides the client's timeout (a whole file's download). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/** A download carries up to 25 MiB of ciphertext: a slow phone connection needs longer than a JSON answer. */
const DOWNLOAD_TIMEOUT_MS = 180_000;
const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/**
 * The gateway's HTTP API (auth, devices, key backup, practice keys), typed against `@parley/protocol`.
 * Besides the codes each method lists, any call can fail with `network`, `unexpected_response` or `internal`.
 */
export class HttpApi {
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly options: HttpApiOptions) {
    // Called through globalThis: browsers refuse a detached `fetch` ("Illegal invocation").
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** `POST /api/auth/prelogin`: the salt and KDF cost to derive the auth key with. Fails with `invalid_payload`, `rate_limited`. */
  prelogin(body: PreloginRequest): Promise<HttpResult<PreloginResponse>> {
    return this.json({ method: 'POST', path: '/api/auth/prelogin', body, isPublic: true });
  }

  /** `GET /api/version`: the protocol version the server speaks (no session needed). Fails with `network`. */
  version(): Promise<HttpResult<SystemPong>> {
    return this.json({ method: 'GET', path: '/api/version', isPublic: true });
  }

  /** `POST /api/auth/invitation`: checks an activation or set-up code and names the account it opens. Fails with `invalid_payload`, `unauthorized`, `rate_limited`. */
  lookUpInvitation(body: InvitationLookupRequest): Promise<HttpResult<InvitationDetails>> {
    return this.json({ method: 'POST', path: '/api/auth/invitation', body, isPublic: true });
  }

  /** `POST /api/auth/activate`: turns an invitation or set-up code into an account and a session. Fails with `invalid_payload`, `unauthorized`, `conflict`, `rate_limited`. */
  activate(body: ActivateRequest): Promise<HttpResult<SessionInfo>> {
    return this.json({ method: 'POST', path: '/api/auth/activate', body, isPublic: true });
  }

  /** `POST /api/auth/sign-in`: starts a session on an existing or a new device. Fails with `invalid_payload`, `unauthorized`, `rate_limited`. */
  signIn(body: SignInRequest): Promise<HttpResult<SessionInfo>> {
    return this.json({ method: 'POST', path: '/api/auth/sign-in', body, isPublic: true });
  }

  /** `POST /api/auth/sign-out`: ends this session. Fails with `unauthorized`. */
  signOut(): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: '/api/auth/sign-out' });
  }

  /** `POST /api/auth/sign-out-everywhere`: ends every session of the user. Fails with `unauthorized`. */
  signOutEverywhere(): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: '/api/auth/sign-out-everywhere' });
  }

  /** `GET /api/devices`: the caller's devices, revoked ones included, oldest first. Fails with `unauthorized`. */
  listDevices(): Promise<HttpResult<DeviceInfo[]>> {
    return this.json({ method: 'GET', path: '/api/devices' });
  }

  /** `POST /api/devices/:id/revoke`: revokes one of the caller's devices. Fails with `unauthorized`, `forbidden`, `not_found`. */
  revokeDevice(deviceId: string): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: `/api/devices/${encodeURIComponent(deviceId)}/revoke` });
  }

  /** `PUT /api/devices/:id/certificate`: stores a device's certificate. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict`. */
  putDeviceCertificate(deviceId: string, body: DeviceCertificateBody): Promise<HttpResult<null>> {
    return this.empty({ method: 'PUT', path: `/api/devices/${encodeURIComponent(deviceId)}/certificate`, body });
  }

  /** `GET /api/keys/backup`: the caller's encrypted key backup and its KDF parameters. Fails with `unauthorized`, `not_found`. */
  getBackup(): Promise<HttpResult<KeyBackup>> {
    return this.json({ method: 'GET', path: '/api/keys/backup' });
  }

  /** `GET /api/keys/account` (patients): the account key's chain, the patient's devices and the envelopes sealed to the account key. Fails with `unauthorized`, `forbidden`, `not_found`. */
  getAccountEnrolment(): Promise<HttpResult<AccountEnrolment>> {
    return this.json({ method: 'GET', path: '/api/keys/account' });
  }

  /** `PUT /api/keys/backup`: replaces the caller's encrypted key backup. Fails with `invalid_payload`, `unauthorized`, `forbidden`. */
  putBackup(body: KeyBackup): Promise<HttpResult<null>> {
    return this.empty({ method: 'PUT', path: '/api/keys/backup', body });
  }

  /** `POST /api/invitations` (staff): a patient account and the invitation the staff client made for it. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `conflict`. */
  createInvitation(body: CreateInvitationRequest): Promise<HttpResult<InvitationCreated>> {
    return this.json({ method: 'POST', path: '/api/invitations', body });
  }

  /** `POST /api/staff` (manager): a staff account and its one-time set-up code. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `conflict`. */
  createStaff(body: CreateStaffRequest): Promise<HttpResult<CodeIssued>> {
    return this.json({ method: 'POST', path: '/api/staff', body });
  }

  /** `PUT /api/practice/root-key` (manager, once): pins the practice root signing key. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `conflict`. */
  setRootKey(body: SetRootKeyBody): Promise<HttpResult<null>> {
    return this.empty({ method: 'PUT', path: '/api/practice/root-key', body });
  }

  /** `POST /api/practice/record-keys` (manager): adds a record key version. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `conflict`. */
  addRecordKey(body: AddRecordKeyRequest): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: '/api/practice/record-keys', body });
  }

  /** `POST /api/practice/record-key-grants` (manager): seals a record key version to a staff device. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict`. */
  addRecordKeyGrant(body: AddRecordKeyGrantRequest): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: '/api/practice/record-key-grants', body });
  }

  /** `POST /api/practice/admin-keys` (manager): a practice admin key with the current root's certificate. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `conflict`. */
  addAdminKey(body: AddAdminKeyRequest): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: '/api/practice/admin-keys', body });
  }

  /** `POST /api/practice/root-successors` (manager): the current root's signature naming the next root. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `conflict`. */
  addRootSuccessor(body: AddRootSuccessorRequest): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: '/api/practice/root-successors', body });
  }

  /** `POST /api/practice/record-key-certifications` (manager): a record key version certified again after a root rotation. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict`. */
  recertifyRecordKey(body: RecertifyRecordKeyRequest): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: '/api/practice/record-key-certifications', body });
  }

  /** `GET /api/practice/keys`: the practice's root and record keys, and the grants sealed to the caller's device. Fails with `unauthorized`. */
  getPracticeKeys(): Promise<HttpResult<PracticeKeys>> {
    return this.json({ method: 'GET', path: '/api/practice/keys' });
  }

  /** `GET /api/practice/revocations`: the practice's newest signed revocation list (`list: null` before the first); the caller verifies it. Fails with `unauthorized`. */
  getRevocations(): Promise<HttpResult<RevocationListResponse>> {
    return this.json({ method: 'GET', path: '/api/practice/revocations' });
  }

  /** `PUT /api/practice/revocations` (manager): a newer, root-signed version of the list. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `conflict`. */
  putRevocations(body: PutRevocationListRequest): Promise<HttpResult<null>> {
    return this.empty({ method: 'PUT', path: '/api/practice/revocations', body });
  }

  /** `PUT /api/users/:id/account-key-certificate` (manager): the practice's signature over a patient's account key. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict`. */
  putAccountKeyCertificate(userId: string, body: AccountKeyCertificateBody): Promise<HttpResult<null>> {
    return this.empty({ method: 'PUT', path: `/api/users/${encodeURIComponent(userId)}/account-key-certificate`, body });
  }

  /** `GET /api/practice/terms`: the practice's current terms and whether the caller (a patient) must accept them. Fails with `unauthorized`. */
  getTerms(): Promise<HttpResult<TermsStatus>> {
    return this.json({ method: 'GET', path: '/api/practice/terms' });
  }

  /** `POST /api/practice/terms/consent` (patient): accepts the version the patient read. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict` (not the current version). */
  acceptTerms(body: AcceptTermsRequest): Promise<HttpResult<TermsConsent>> {
    return this.json({ method: 'POST', path: '/api/practice/terms/consent', body });
  }

  /** `GET /api/practice/settings`: the practice's topic categories, phone number and acknowledgement text. Fails with `unauthorized`. */
  getPracticeSettings(): Promise<HttpResult<PracticeSettings>> {
    return this.json({ method: 'GET', path: '/api/practice/settings' });
  }

  /** `GET /api/practice/canned-replies` (staff): the practice's canned replies, by title. Fails with `unauthorized`, `forbidden`. */
  listCannedReplies(): Promise<HttpResult<CannedReply[]>> {
    return this.json({ method: 'GET', path: '/api/practice/canned-replies' });
  }

  /** `POST /api/practice/canned-replies` (manager). Fails with `invalid_payload`, `unauthorized`, `forbidden`, `conflict` (the practice has the most it may keep). */
  createCannedReply(body: CannedReplyRequest): Promise<HttpResult<CannedReply>> {
    return this.json({ method: 'POST', path: '/api/practice/canned-replies', body });
  }

  /** `PUT /api/practice/canned-replies/:id` (manager). Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`. */
  updateCannedReply(id: string, body: CannedReplyRequest): Promise<HttpResult<CannedReply>> {
    return this.json({ method: 'PUT', path: `/api/practice/canned-replies/${encodeURIComponent(id)}`, body });
  }

  /** `DELETE /api/practice/canned-replies/:id` (manager). Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`. */
  deleteCannedReply(id: string): Promise<HttpResult<null>> {
    return this.empty({ method: 'DELETE', path: `/api/practice/canned-replies/${encodeURIComponent(id)}` });
  }

  /** `GET /api/staff` (manager): the practice's staff with roles, capacity and devices. Fails with `unauthorized`, `forbidden`. */
  listStaff(): Promise<HttpResult<StaffMember[]>> {
    return this.json({ method: 'GET', path: '/api/staff' });
  }

  /** `POST /api/staff/:userId/devices/:deviceId/revoke` (manager): revokes a colleague's device. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`. */
  revokeStaffDevice(userId: string, deviceId: string): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: `/api/staff/${encodeURIComponent(userId)}/devices/${encodeURIComponent(deviceId)}/revoke` });
  }

  /** `POST /api/staff/:userId/offboard` (manager): ends a colleague's access and hands their conversations back. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict`. */
  offboardStaff(userId: string): Promise<HttpResult<OffboardResult>> {
    return this.json({ method: 'POST', path: `/api/staff/${encodeURIComponent(userId)}/offboard` });
  }

  /** `GET /api/staff/:userId/offboarding` (managers): what is left of an offboarding (record key rotation, conversations to renew). Fails with `unauthorized`, `forbidden`, `not_found`. */
  offboardingProgress(userId: string): Promise<HttpResult<OffboardingProgress>> {
    return this.json({ method: 'GET', path: `/api/staff/${encodeURIComponent(userId)}/offboarding` });
  }

  /** `GET /api/patients` (staff): patients by NHS number, name or date of birth, with their conversations (metadata). Fails with `invalid_payload`, `unauthorized`, `forbidden`. */
  searchPatients(query: PatientSearchQuery): Promise<HttpResult<PatientSearchResult>> {
    const search = new URLSearchParams(Object.entries(query).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    return this.json({ method: 'GET', path: `/api/patients?${search.toString()}` });
  }

  /** `POST /api/conversations/:id/exports` (staff): records in the audit log that the caller is exporting the conversation. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`. */
  recordExport(conversationId: string, body: RecordExportRequest): Promise<HttpResult<null>> {
    return this.empty({ method: 'POST', path: `/api/conversations/${encodeURIComponent(conversationId)}/exports`, body });
  }

  /** `POST /api/recoveries` (staff): starts a patient's recovery with the code the browser made. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict`. */
  startRecovery(body: StartRecoveryRequest): Promise<HttpResult<RecoverySummary>> {
    return this.json({ method: 'POST', path: '/api/recoveries', body });
  }

  /** `GET /api/recoveries` (staff): the practice's recoveries, newest first. Fails with `unauthorized`, `forbidden`. */
  listRecoveries(): Promise<HttpResult<RecoverySummary[]>> {
    return this.json({ method: 'GET', path: '/api/recoveries' });
  }

  /** `POST /api/recoveries/:id/approvals` (staff): one approval of the new account key the client verified. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict`. */
  approveRecovery(recoveryId: string, body: ApproveRecoveryRequest): Promise<HttpResult<RecoverySummary>> {
    return this.json({ method: 'POST', path: `/api/recoveries/${encodeURIComponent(recoveryId)}/approvals`, body });
  }

  /** `GET /api/recoveries/:id/history` (manager): the record-key envelopes and their creators, to re-seal from. Fails with `unauthorized`, `forbidden`, `not_found`. */
  recoveryHistory(recoveryId: string): Promise<HttpResult<RecoveryHistory>> {
    return this.json({ method: 'GET', path: `/api/recoveries/${encodeURIComponent(recoveryId)}/history` });
  }

  /** `POST /api/recoveries/:id/complete` (manager): the root's certificate and the re-sealed envelopes; swaps the credential. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict`. */
  completeRecovery(recoveryId: string, body: CompleteRecoveryRequest): Promise<HttpResult<RecoverySummary>> {
    return this.json({ method: 'POST', path: `/api/recoveries/${encodeURIComponent(recoveryId)}/complete`, body });
  }

  /** `POST /api/auth/recovery` (no session): the recovery a code's lookup id and the date of birth find. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `rate_limited`. */
  lookUpRecovery(body: RecoveryLookupRequest): Promise<HttpResult<RecoveryDetails>> {
    return this.json({ method: 'POST', path: '/api/auth/recovery', body, isPublic: true });
  }

  /** `POST /api/auth/recovery/submit` (no session): the patient's new account key, auth key and backup. Fails with `invalid_payload`, `unauthorized`, `forbidden`, `rate_limited`. */
  submitRecovery(body: SubmitRecoveryRequest): Promise<HttpResult<{ recoveryId: string }>> {
    return this.json({ method: 'POST', path: '/api/auth/recovery/submit', body, isPublic: true });
  }

  /** `GET /api/practice/attachment-settings`: which files the practice accepts from patients, and its size limits. Fails with `unauthorized`. */
  attachmentSettings(): Promise<HttpResult<AttachmentSettings>> {
    return this.json({ method: 'GET', path: '/api/practice/attachment-settings' });
  }

  /** `PUT /api/practice/attachment-settings` (manager). Fails with `invalid_payload`, `unauthorized`, `forbidden`. */
  updateAttachmentSettings(body: AttachmentSettings): Promise<HttpResult<AttachmentSettings>> {
    return this.json({ method: 'PUT', path: '/api/practice/attachment-settings', body });
  }

  /** `GET /api/push/vapid-public-key` (patient): the application server key to subscribe with. Fails with `unauthorized`, `forbidden`. */
  vapidPublicKey(): Promise<HttpResult<VapidPublicKey>> {
    return this.json({ method: 'GET', path: '/api/push/vapid-public-key' });
  }

  /** `PUT /api/push/subscription` (patient): this device's Web Push subscription, replacing any earlier one. Fails with `invalid_payload`, `unauthorized`, `forbidden`. */
  putPushSubscription(body: PushSubscriptionRequest): Promise<HttpResult<null>> {
    return this.empty({ method: 'PUT', path: '/api/push/subscription', body });
  }

  /** `DELETE /api/push/subscription`: forgets this device's subscription (none is fine). Fails with `unauthorized`. */
  deletePushSubscription(): Promise<HttpResult<null>> {
    return this.empty({ method: 'DELETE', path: '/api/push/subscription' });
  }

  /** `GET /api/notifications/channels`: which ways of being told about a new message the practice's server offers. Fails with `unauthorized`. */
  notificationChannels(): Promise<HttpResult<NotificationChannels>> {
    return this.json({ method: 'GET', path: '/api/notifications/channels' });
  }

  /** `PUT /api/notifications/contact` (patient): the phone number or e-mail address for text or e-mail notices. Fails with `invalid_payload`, `unauthorized`, `forbidden` (channel not configured). */
  putNotificationContact(body: NotificationContactRequest): Promise<HttpResult<null>> {
    return this.empty({ method: 'PUT', path: '/api/notifications/contact', body });
  }

  /** `DELETE /api/notifications/contact` (patient): forgets the patient's contact. Fails with `unauthorized`, `forbidden`. */
  deleteNotificationContact(): Promise<HttpResult<null>> {
    return this.empty({ method: 'DELETE', path: '/api/notifications/contact' });
  }

  /** `GET /api/practice/notification-settings`: whether notices name the practice, and its quiet hours. Fails with `unauthorized`. */
  notificationSettings(): Promise<HttpResult<NotificationSettings>> {
    return this.json({ method: 'GET', path: '/api/practice/notification-settings' });
  }

  /** `PUT /api/practice/notification-settings` (manager). Fails with `invalid_payload`, `unauthorized`, `forbidden`. */
  updateNotificationSettings(body: NotificationSettings): Promise<HttpResult<NotificationSettings>> {
    return this.json({ method: 'PUT', path: '/api/practice/notification-settings', body });
  }

  /**
   * `POST /api/attachments/uploads`: announces an encrypted file. Fails with `invalid_payload` (`type_not_accepted`),
   * `unauthorized`, `forbidden` (`not_requested`, `not_accepted`), `not_found`, `conflict` (closed), `too_large`, `rate_limited`.
   */
  createUpload(body: CreateUploadRequest): Promise<HttpResult<UploadCreated>> {
    return this.json({ method: 'POST', path: '/api/attachments/uploads', body });
  }

  /** `PUT /api/attachments/uploads/:id/chunks/:index`: one part of the ciphertext (idempotent). Fails with `invalid_payload`, `unauthorized`, `not_found`, `conflict`. */
  putUploadChunk(uploadId: string, index: number, bytes: Uint8Array): Promise<HttpResult<null>> {
    return this.empty({ method: 'PUT', path: `${uploadPath(uploadId)}/chunks/${encodeURIComponent(String(index))}`, body: bytes });
  }

  /** `GET /api/attachments/uploads/:id` (uploader): the parts the server holds, to resume. Fails with `unauthorized`, `not_found`. */
  uploadStatus(uploadId: string): Promise<HttpResult<UploadStatus>> {
    return this.json({ method: 'GET', path: uploadPath(uploadId) });
  }

  /** `POST /api/attachments/uploads/:id/complete` (idempotent). Fails with `unauthorized`, `not_found`, `conflict` (`missing` parts). */
  completeUpload(uploadId: string): Promise<HttpResult<UploadStatus>> {
    return this.json({ method: 'POST', path: `${uploadPath(uploadId)}/complete` });
  }

  /** `DELETE /api/attachments/uploads/:id`: cancels an upload no message references yet. Fails with `unauthorized`, `not_found`, `conflict` (referenced). */
  cancelUpload(uploadId: string): Promise<HttpResult<null>> {
    return this.empty({ method: 'DELETE', path: uploadPath(uploadId) });
  }

  /** `GET /api/attachments/:id`: a file's whole ciphertext, for the caller to check and decrypt. Fails with `unauthorized`, `not_found`. */
  async downloadAttachment(uploadId: string): Promise<HttpResult<Uint8Array>> {
    const answer = await this.send(
      { method: 'GET', path: `/api/attachments/${encodeURIComponent(uploadId)}`, timeoutMs: DOWNLOAD_TIMEOUT_MS },
      async (response) => new Uint8Array(await response.arrayBuffer()),
    );
    return answer.ok ? { ok: true, data: answer.data } : answer;
  }

  /** A route whose answer carries data. */
  private async json<T>(call: Call): Promise<HttpResult<T>> {
    const answer = await this.send(call, (response) => response.text());
    if (!answer.ok) return answer;
    try {
      return { ok: true, data: JSON.parse(answer.data) as T };
    } catch {
      return { ok: false, error: { code: 'unexpected_response', message: `${call.method} ${call.path}: the answer is not JSON`, status: answer.status } };
    }
  }

  /** A route whose answer carries nothing the caller needs (204, or a body it ignores). */
  private async empty(call: Call): Promise<HttpResult<null>> {
    const answer = await this.send(call, (response) => response.text());
    return answer.ok ? { ok: true, data: null } : answer;
  }

  /** Sends one request; a 2xx answer resolves with what `read` makes of it, anything else with a typed failure. */
  private async send<T>(
    call: Call,
    read: (response: Response) => Promise<T>,
  ): Promise<{ ok: true; data: T; status: number } | { ok: false; error: HttpFailure }> {
    const isBinary = call.body instanceof Uint8Array;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (call.body !== undefined) headers['content-type'] = isBinary ? 'application/octet-stream' : 'application/json';
    const token = call.isPublic ? undefined : await this.token();
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    const timeoutMs = call.timeoutMs ?? this.timeoutMs;
    let response: Response;
    let data: T | undefined;
    let errorText = '';
    try {
      response = await this.fetch(`${this.options.baseUrl}${call.path}`, {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : isBinary ? (call.body as Uint8Array<ArrayBuffer>) : JSON.stringify(call.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      // Both bodies are read inside the try: a connection that drops mid-body is `network` too.
      if (response.ok) data = await read(response);
      else errorText = await response.text();
    } catch (error) {
      // By name, not instanceof: fetch's DOMException may come from another realm.
      const isTimeout = typeof error === 'object' && error !== null && 'name' in error && error.name === 'TimeoutError';
      const message = isTimeout ? `no answer within ${timeoutMs} ms` : `the gateway could not be reached${causeCodeOf(error)}`;
      return { ok: false, error: { code: 'network', message: `${call.method} ${call.path}: ${message}`, status: null } };
    }
    if (response.ok) return { ok: true, data: data as T, status: response.status };
    return { ok: false, error: failureOf(call, response.status, errorText) };
  }

  private async token(): Promise<string | undefined> {
    const { token } = this.options;
    try {
      return typeof token === 'function' ? await token() : token;
    } catch {
      return undefined;
    }
  }
}

/**
 * Why a request never got an answer, where the runtime says: Node's fetch names the socket's error as its cause
 * (` (ECONNREFUSED)`, ` (UND_ERR_SOCKET)` for a keep-alive connection the gateway had closed); a browser says nothing.
 */
function causeCodeOf(error: unknown): string {
  const cause = typeof error === 'object' && error !== null && 'cause' in error ? error.cause : undefined;
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? ` (${code})` : '';
}

function uploadPath(uploadId: string): string {
  return `/api/attachments/uploads/${encodeURIComponent(uploadId)}`;
}

/** An error's details when they are what the API sends: a flat object of strings, numbers, booleans and nulls. */
function detailsOf(value: unknown): ErrorBody['details'] | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  const isFlat = entries.every(([, item]) => item === null || ['string', 'number', 'boolean'].includes(typeof item));
  return isFlat ? Object.fromEntries(entries) : undefined;
}

/** The API answers errors as `{ error: { code, message, details? } }`; anything else is not the API's answer. */
function failureOf(call: Call, status: number, text: string): HttpFailure {
  try {
    const body: unknown = JSON.parse(text);
    const error = typeof body === 'object' && body !== null && 'error' in body ? body.error : undefined;
    if (typeof error === 'object' && error !== null && 'code' in error && 'message' in error) {
      const { code, message } = error;
      if (typeof code === 'string' && KNOWN_CODES.has(code) && typeof message === 'string') {
        const details = 'details' in error ? detailsOf(error.details) : undefined;
        return details ? { code: code as ErrorCode, message, status, details } : { code: code as ErrorCode, message, status };
      }
    }
  } catch {
    // Not JSON: a proxy's or a server's error page, reported below.
  }
  return { code: 'unexpected_response', message: `${call.method} ${call.path}: status ${status} without an API error`, status };
}
