import { z } from 'zod';
import type { DeviceInfo } from './auth.js';
import type { ConversationStatus } from './conversation.js';
import type { QueueSnapshot } from './queue.js';

// ---------------------------------------------------------------------------------------------
// Manager dashboard (socket command `dashboard:get`)

/** `dashboard:get` (managers): the live load and today's figures, in one read. */
export const DashboardGet = z.object({}).strict();
export type DashboardGet = z.infer<typeof DashboardGet>;

/** One hour of the practice's day (local time): conversations opened in it and how long they waited for a clinician. */
export interface DashboardHour {
  /** Local hour of the practice's day, 0–23 (on a daylight-saving day an hour may repeat or be missing). */
  hour: number;
  /** Conversations opened in that hour. */
  opened: number;
  /** Of those, how many a clinician has taken (automatically, by claim or transfer). */
  answered: number;
  /** Median and longest wait from opening to the first assignment, in whole seconds, over the answered ones; null when none. */
  medianWaitSeconds: number | null;
  longestWaitSeconds: number | null;
}

/** What `dashboard:get` answers. */
export interface Dashboard {
  practiceId: string;
  /** The practice's IANA time zone: `hours` and "today" are its local day. */
  timeZone: string;
  /** The server's time the figures were taken at (ISO). */
  generatedAt: string;
  /** The live queue, every clinician's load against their caps, availability and today's assignments (`today`), and the limits: as `queue:list`. */
  queue: QueueSnapshot;
  /** Waiting conversations and the longest current wait, in whole seconds (0 when nobody waits). */
  waitingCount: number;
  longestWaitingSeconds: number;
  /** Today's totals: opened, answered, closed, and waits over the answered ones. */
  today: { opened: number; answered: number; closed: number; medianWaitSeconds: number | null; longestWaitSeconds: number | null };
  /** Only the hours of today that had a conversation opened, in order. */
  hours: DashboardHour[];
}

// ---------------------------------------------------------------------------------------------
// Canned replies (HTTP, /api/practice/canned-replies)

/** The most canned replies a practice may keep. */
export const MAX_CANNED_REPLIES = 100;
/** The longest canned reply title and text, in characters. */
export const MAX_CANNED_REPLY_TITLE_CHARS = 80;
export const MAX_CANNED_REPLY_TEXT_CHARS = 2_000;

/**
 * POST /api/practice/canned-replies and PUT /api/practice/canned-replies/:id (managers): a practice-wide
 * template a clinician inserts into a message. It is practice boilerplate, never patient data.
 */
export const CannedReplyRequest = z
  .object({
    title: z.string().trim().min(1).max(MAX_CANNED_REPLY_TITLE_CHARS),
    text: z.string().trim().min(1).max(MAX_CANNED_REPLY_TEXT_CHARS),
  })
  .strict();
export type CannedReplyRequest = z.infer<typeof CannedReplyRequest>;

/** One canned reply as staff read it. */
export interface CannedReply {
  id: string;
  title: string;
  text: string;
  createdAt: string;
  updatedAt: string;
  /** The manager who last wrote it (a user id). */
  updatedBy: string;
}

// ---------------------------------------------------------------------------------------------
// Staff management (HTTP, /api/staff)

/** A staff device as a manager sees it: a device (its member is the owner), with which record key versions it holds. */
export interface StaffDevice extends Omit<DeviceInfo, 'userId'> {
  /** Root-signed device certificate (verify it against the pinned root key); null until a manager admitted the device. */
  certificate: string | null;
  /** Record key versions sealed to this device by an active grant, ascending. */
  grantedVersions: number[];
}

/** GET /api/staff: one member of the practice's staff. */
export interface StaffMember {
  userId: string;
  displayName: string;
  email: string | null;
  roles: ('clinician' | 'manager')[];
  /** False until the set-up code was used. */
  isActivated: boolean;
  /** Set when offboarded: the account can no longer sign in. */
  deactivatedAt: string | null;
  /** Clinicians only (null for a manager who is not one): availability, caps, and conversations held now (assigned or on hold). */
  capacity: { availability: 'available' | 'away' | 'offline'; maxConcurrent: number; dailyMax: number | null; active: number } | null;
  /** Every device, revoked ones included, oldest first. */
  devices: StaffDevice[];
}

/** POST /api/staff/:userId/offboard answer: what was ended. */
export interface OffboardResult {
  userId: string;
  devicesRevoked: number;
  grantsRevoked: number;
  sessionsEnded: number;
  /** Conversations handed back to the head of the queue. */
  conversationsHandedBack: number;
}

/**
 * GET /api/staff/:userId/offboarding answer: what is left before a leaver's keys open nothing new
 * (docs/crypto.md, "Leavers"). The manager's client does the remaining steps and asks again; the server
 * only reports, and a server that lies about it can make the checklist look done early, never read anything.
 */
export interface OffboardingProgress {
  userId: string;
  /** When the account was offboarded; null while it is still active (nothing to do yet). */
  offboardedAt: string | null;
  /** Whether a record key version was made after the offboarding, and the newest version. */
  recordKey: { isRotated: boolean; newestVersion: number | null };
  /** Open conversations whose current epoch began before the offboarding (the leaver's copy opens it), oldest first, at most 500. */
  conversationsToRenew: string[];
  /** How many there are in all (more than the list when over 500). */
  conversationsToRenewCount: number;
}

// ---------------------------------------------------------------------------------------------
// Patient search (HTTP, GET /api/patients)

/**
 * GET /api/patients (staff) query string: at least one of an NHS number (exact), part of a name (2–100
 * characters, case-insensitive) or a date of birth (exact); several narrow the search.
 */
export const PatientSearchQuery = z
  .object({
    nhsNumber: z
      .string()
      .regex(/^[0-9]{10}$/, 'not an NHS number')
      .optional(),
    name: z.string().trim().min(2).max(100).optional(),
    dateOfBirth: z.iso.date().optional(),
  })
  .strict()
  .refine(
    (query) => query.nhsNumber !== undefined || query.name !== undefined || query.dateOfBirth !== undefined,
    'give an NHS number, a name or a date of birth',
  );
export type PatientSearchQuery = z.infer<typeof PatientSearchQuery>;

/** The most patients one search answers. */
export const MAX_PATIENT_RESULTS = 20;
/** The most past conversations listed per patient (newest first). */
export const MAX_PATIENT_CONVERSATIONS = 50;

/** A past conversation of a patient: metadata only. */
export interface PatientConversation {
  id: string;
  topic: string;
  status: ConversationStatus;
  assignedClinicianId: string | null;
  outcome: string | null;
  lastSeq: number;
  createdAt: string;
}

/** One patient found, with their conversations at the practice. */
export interface PatientMatch {
  userId: string;
  displayName: string;
  nhsNumber: string;
  dateOfBirth: string;
  isActivated: boolean;
  deactivatedAt: string | null;
  conversations: PatientConversation[];
}

/** GET /api/patients answer: at most MAX_PATIENT_RESULTS, by name; `isTruncated` when there were more. */
export interface PatientSearchResult {
  patients: PatientMatch[];
  isTruncated: boolean;
}

// ---------------------------------------------------------------------------------------------
// Record exports (HTTP, POST /api/conversations/:id/exports)

/** The formats a staff client exports a decrypted conversation in. */
export const EXPORT_FORMATS = ['fhir-r4-bundle', 'transcript'] as const;

/**
 * Announces an export before the staff client hands the decrypted file to the clinician: the
 * server cannot see the export, so this is how it reaches the audit log.
 */
export const RecordExportRequest = z
  .object({
    formats: z
      .array(z.enum(EXPORT_FORMATS))
      .min(1)
      .max(EXPORT_FORMATS.length)
      .refine((formats) => new Set(formats).size === formats.length, 'formats repeat'),
  })
  .strict();
export type RecordExportRequest = z.infer<typeof RecordExportRequest>;
