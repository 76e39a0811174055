import {
  AccountKeyCertificateRequest,
  AddAdminKeyRequest,
  AddRecordKeyGrantRequest,
  AddRecordKeyRequest,
  AddRootSuccessorRequest,
  ApproveRecoveryRequest,
  AttachmentSettings,
  AuditQuery,
  CannedReplyRequest,
  CompleteRecoveryRequest,
  CreateInvitationRequest,
  CreateStaffRequest,
  KeyBackup,
  NotificationContactRequest,
  NotificationSettings,
  PatientLimits,
  PatientSearchQuery,
  PeopleQuery,
  PublishTermsRequest,
  PushSubscriptionRequest,
  PutRevocationListRequest,
  RecertifyRecordKeyRequest,
  RecordExportRequest,
  ReplaceWeeklyHoursRequest,
  SetHoursExceptionRequest,
  SetRootKeyRequest,
  StartRecoveryRequest,
  UpdateCategoriesRequest,
  UpdateHoursSettingsRequest,
  UpdatePracticeTextsRequest,
  type Role,
} from '@parley/protocol';
import type { ZodType } from 'zod';
import type { Actor } from './actor.js';
import { requireRole } from './require-role.js';

const MANAGERS: readonly Role[] = ['manager'];
const STAFF: readonly Role[] = ['clinician', 'manager'];
const PATIENTS: readonly Role[] = ['patient'];

/**
 * HTTP bodies and query strings only some roles may send, and who. `@ZodBody()` and `@ZodQuery()` refuse anyone
 * else `forbidden` before they validate the value, so a caller who may not use a route never gets a validation
 * message describing its schema: an "any of" body (at least one of several optional fields), refused when empty,
 * would otherwise tell anyone its fields. The services keep their own `requireRole`; this only puts the same
 * refusal first. A schema sent by several kinds of caller under rules of the service's own (a device certificate,
 * a patient's or a manager's) is not listed.
 */
const SENDERS: ReadonlyMap<ZodType, readonly Role[]> = new Map<ZodType, readonly Role[]>([
  [UpdateHoursSettingsRequest, MANAGERS],
  [UpdatePracticeTextsRequest, MANAGERS],
  [PatientSearchQuery, STAFF],
  [ReplaceWeeklyHoursRequest, MANAGERS],
  [SetHoursExceptionRequest, MANAGERS],
  [UpdateCategoriesRequest, MANAGERS],
  [PatientLimits, MANAGERS],
  [AttachmentSettings, MANAGERS],
  [CannedReplyRequest, MANAGERS],
  [PublishTermsRequest, MANAGERS],
  [AuditQuery, MANAGERS],
  [SetRootKeyRequest, MANAGERS],
  [PutRevocationListRequest, MANAGERS],
  [AddRecordKeyRequest, MANAGERS],
  [AddRecordKeyGrantRequest, MANAGERS],
  [AddAdminKeyRequest, MANAGERS],
  [AddRootSuccessorRequest, MANAGERS],
  [RecertifyRecordKeyRequest, MANAGERS],
  [CreateStaffRequest, MANAGERS],
  [AccountKeyCertificateRequest, MANAGERS],
  [CreateInvitationRequest, STAFF],
  [RecordExportRequest, STAFF],
  [PeopleQuery, STAFF],
  [KeyBackup, PATIENTS],
  [StartRecoveryRequest, STAFF],
  [ApproveRecoveryRequest, STAFF],
  [CompleteRecoveryRequest, MANAGERS],
  [NotificationSettings, MANAGERS],
  [PushSubscriptionRequest, PATIENTS],
  [NotificationContactRequest, PATIENTS],
]);

/** Refuses a caller who may not send a value of `schema` (see SENDERS); anyone may send an unlisted one. @throws DomainError `forbidden` */
export function requireSender(actor: Pick<Actor, 'roles'> | undefined, schema: ZodType): void {
  const roles = SENDERS.get(schema);
  // Routes without a session (sign-in and its friends) send no listed schema; the bearer guard refused the rest already.
  if (roles && actor) requireRole(actor, ...roles);
}
