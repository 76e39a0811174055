import { z } from 'zod';
import { Uuid } from './common.js';
import { Topic } from './conversation.js';

// ---------------------------------------------------------------------------------------------
// Terms and consent (HTTP, /api/practice/terms)

/** The longest terms text a manager may publish, in characters. */
export const MAX_TERMS_CHARS = 20_000;

/** POST /api/practice/terms (manager): publishes the next version of the practice's terms. */
export const PublishTermsRequest = z.object({ text: z.string().trim().min(1).max(MAX_TERMS_CHARS) }).strict();
export type PublishTermsRequest = z.infer<typeof PublishTermsRequest>;

/** One published version of a practice's terms; versions count 1, 2, … and are never changed. */
export interface PracticeTerms {
  version: number;
  text: string;
  publishedAt: string;
  /** The manager who published it (a user id). */
  publishedBy: string;
}

/** A patient's acceptance of one version of the terms. */
export interface TermsConsent {
  version: number;
  givenAt: string;
}

/** GET /api/practice/terms: the current terms (null when the practice has published none) and where the caller stands. */
export interface TermsStatus {
  terms: PracticeTerms | null;
  /** The caller's latest consent (patients only; staff get null). */
  consent: TermsConsent | null;
  /** True when the caller is a patient who must accept `terms` before opening a conversation. */
  needsConsent: boolean;
}

/** POST /api/practice/terms/consent (patient): accepts the version the patient read; an older one is `conflict`. */
export const AcceptTermsRequest = z.object({ version: z.number().int().min(1).max(1_000_000) }).strict();
export type AcceptTermsRequest = z.infer<typeof AcceptTermsRequest>;

// ---------------------------------------------------------------------------------------------
// Practice settings: categories and texts (HTTP, /api/practice/settings, /categories, /texts)

/** The longest acknowledgement template, in characters. */
export const MAX_PRACTICE_TEXT_CHARS = 2_000;
/** The most categories a practice may define. */
export const MAX_CATEGORIES = 20;
/** The placeholders an acknowledgement template may use; the server fills them when it posts the acknowledgement. */
export const ACKNOWLEDGEMENT_PLACEHOLDERS = ['replyTime', 'practicePhone', 'practiceName'] as const;

/** A topic a patient can open a conversation about: its slug is the conversation's `topic`. */
export const TopicCategory = z
  .object({
    slug: Topic,
    label: z.string().trim().min(1).max(60),
    isEnabled: z.boolean(),
  })
  .strict();
export type TopicCategory = z.infer<typeof TopicCategory>;

/** PUT /api/practice/categories (manager): the whole list, in display order; at least one enabled, slugs unique. */
export const UpdateCategoriesRequest = z
  .object({
    categories: z
      .array(TopicCategory)
      .min(1)
      .max(MAX_CATEGORIES)
      .refine((list) => new Set(list.map((category) => category.slug)).size === list.length, 'slugs must be unique')
      .refine((list) => list.some((category) => category.isEnabled), 'at least one category must be enabled'),
  })
  .strict();
export type UpdateCategoriesRequest = z.infer<typeof UpdateCategoriesRequest>;

/** A telephone number as patients dial it, e.g. "01632 960000" or "+44 1632 960000". */
export const PracticePhone = z
  .string()
  .trim()
  .regex(/^\+?[0-9][0-9 ()-]{5,28}$/, 'not a telephone number');

/**
 * An acknowledgement template. It must keep what the acknowledgement is for: the reply time
 * (`{replyTime}`) and the urgent advice (999 and 111). Only the known placeholders may appear.
 */
export const AcknowledgementTemplate = z
  .string()
  .trim()
  .min(1)
  .max(MAX_PRACTICE_TEXT_CHARS)
  .refine(
    (text) => [...text.matchAll(/\{([^{}]*)\}/g)].every((match) => (ACKNOWLEDGEMENT_PLACEHOLDERS as readonly string[]).includes(match[1] ?? '')),
    `only the placeholders ${ACKNOWLEDGEMENT_PLACEHOLDERS.map((name) => `{${name}}`).join(', ')} may be used`,
  )
  .refine((text) => text.includes('{replyTime}'), 'must say when to expect a reply ({replyTime})')
  .refine((text) => /\b999\b/.test(text) && /\b111\b/.test(text), 'must keep the urgent advice (999 and 111)');

/**
 * PUT /api/practice/texts (manager): an omitted field is left as it is; `null` removes the phone
 * number, or puts the acknowledgement back to the default text.
 */
export const UpdatePracticeTextsRequest = z
  .object({
    practicePhone: PracticePhone.nullable().optional(),
    acknowledgementTemplate: AcknowledgementTemplate.nullable().optional(),
  })
  .strict()
  .refine((body) => body.practicePhone !== undefined || body.acknowledgementTemplate !== undefined, 'nothing to change');
export type UpdatePracticeTextsRequest = z.infer<typeof UpdatePracticeTextsRequest>;

/** The most a per-patient limit may be set to: beyond it a limit protects nobody (use no limit, `null`). */
export const MAX_PATIENT_LIMIT = 100;
const patientLimit = z.number().int().min(1).max(MAX_PATIENT_LIMIT).nullable();

/**
 * PUT /api/practice/patient-limits (manager): how many conversations one patient may have open at once, and start
 * in one of the practice's local days; `null` is no limit. At least 1: stopping every patient is pausing intake.
 */
export const PatientLimits = z.object({ maxOpenPerPatient: patientLimit, maxNewPerPatientPerDay: patientLimit }).strict();
export type PatientLimits = z.infer<typeof PatientLimits>;

/** `details` of a `patient_limit` refusal of `conversation:open`: which limit the patient reached, and its value. */
export interface PatientLimitDetails {
  limit: 'open' | 'daily';
  max: number;
}

/** GET /api/practice/settings: what patients may open conversations about, what the acknowledgement says, the per-patient limits. */
export interface PracticeSettings {
  /** In display order, disabled ones included (a patient's client offers only the enabled ones). */
  categories: TopicCategory[];
  practicePhone: string | null;
  /** The template in force (the default until a manager sets one), placeholders unfilled. */
  acknowledgementTemplate: string;
  isDefaultAcknowledgement: boolean;
  /** In force now (the defaults, 1 open and 3 a day, until a manager changes them). */
  patientLimits: PatientLimits;
}

// ---------------------------------------------------------------------------------------------
// Audit log (HTTP, GET /api/audit)

/**
 * Everything the audit log records: who did what to which conversation or setting. Never content,
 * names or identifiers other than ids and codes.
 */
export const AUDIT_ACTIONS = [
  'conversation.opened',
  'conversation.read',
  'conversation.assigned',
  'conversation.claimed',
  'conversation.transferred',
  'conversation.held',
  'conversation.requeued',
  'conversation.closed',
  'conversation.marked_urgent',
  'conversation.exported',
  'conversation.epoch_started',
  'follow-up.completed',
  'hours.changed',
  'capacity.changed',
  'categories.changed',
  'texts.changed',
  'terms.published',
  'consent.given',
  'staff.created',
  'invitation.created',
  'invitation.voided',
  'account.activated',
  'device.revoked',
  'key-backup.downloaded',
  'canned-reply.created',
  'canned-reply.changed',
  'canned-reply.deleted',
  'staff.offboarded',
  'record-key.added',
  'record-key.granted',
  'root-key.set',
  'root-key.succeeded',
  'admin-key.added',
  'record-key.recertified',
  'device.certified',
  'account-key.certified',
  'key-backup.replaced',
  'patient.searched',
  'recovery.started',
  'recovery.submitted',
  'recovery.approved',
  'recovery.completed',
  'revocations.published',
  'practice.attachment_settings_changed',
  'practice.notification_settings_changed',
  'notification-contact.set',
  'notification-contact.removed',
] as const;
export const AuditAction = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditAction>;

/** Query strings carry text: a positive integer written in decimal digits. */
const decimalId = z.string().regex(/^[1-9][0-9]{0,17}$/, 'not an event id');

/**
 * GET /api/audit (manager) query string: filters by who acted, which patient it concerned, the action,
 * and the time (`from` inclusive, `to` exclusive); newest first, `before` (an event id) pages back.
 */
export const AuditQuery = z
  .object({
    actorUserId: Uuid.optional(),
    subjectUserId: Uuid.optional(),
    conversationId: Uuid.optional(),
    /** Part of the name of who acted / of the patient concerned (case-insensitive), for a manager who knows names, not ids. */
    actorName: z.string().trim().min(2).max(100).optional(),
    subjectName: z.string().trim().min(2).max(100).optional(),
    action: AuditAction.optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    before: decimalId.optional(),
    limit: z
      .string()
      .regex(/^[0-9]{1,3}$/, 'not a number')
      .transform(Number)
      .pipe(z.number().int().min(1).max(200))
      .optional(),
  })
  .strict()
  .refine((query) => !query.from || !query.to || Date.parse(query.from) < Date.parse(query.to), '`from` must be before `to`');
export type AuditQuery = z.infer<typeof AuditQuery>;

/** One audit event as the log viewer gets it: ids and codes only. */
export interface AuditEvent {
  /** Increases with every event; page back with `before`. */
  id: string;
  /** Null when the server acted by itself (automatic assignment, return to the queue). */
  actorUserId: string | null;
  actorDeviceId: string | null;
  action: AuditAction;
  /** The patient it concerns, if any. */
  subjectUserId: string | null;
  conversationId: string | null;
  data: Record<string, unknown>;
  createdAt: string;
}

/** GET /api/audit answer: newest first; `nextBefore` is the `before` of the next page, null on the last. */
export interface AuditPage {
  events: AuditEvent[];
  nextBefore: string | null;
  /** The names of the practice's users these events name (who acted, the patient, and user ids in `data`), by user id. */
  people: Record<string, string>;
}

/** GET /api/people (staff) query: up to 100 user ids, comma-separated (a follow-up list names its patients and owners). */
export const PeopleQuery = z
  .object({
    ids: z
      .string()
      .max(3_700)
      .transform((ids) => ids.split(','))
      .pipe(z.array(Uuid).min(1).max(100)),
  })
  .strict();
export type PeopleQuery = z.infer<typeof PeopleQuery>;

/** GET /api/people answer: the display names of those ids that are users of the caller's practice, by user id (others are left out). */
export interface People {
  people: Record<string, string>;
}
