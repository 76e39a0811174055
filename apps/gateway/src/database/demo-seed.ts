import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DataSource } from 'typeorm';
import { hashInvitationCode, newInvitationCode } from '../invitations/invitation-code.js';
import { seedAlwaysOpenHours } from '../hours/demo-hours.js';
import { PracticeSettingsRepository } from '../practices/practice-settings.repository.js';

// Kept importable from here for existing callers; the code rules live in invitations/.
export { hashInvitationCode, newInvitationCode };

/** What a newcomer needs to try the demo practice; kept in a 0600 file under DATA_DIR. */
export interface DemoCredentials {
  practice: { odsCode: string; name: string };
  /** Each with the one-time set-up code the demo set-up (scripts/start.mjs) activates them with. */
  staff: { email: string; displayName: string; roles: string[]; code: string }[];
  /**
   * Whom the demo set-up invites, as a staff client (the invitation code is made in a staff browser and
   * never reaches the server, so the seed cannot make it).
   */
  patient: { displayName: string; nhsNumber: string; dateOfBirth: string };
}

const DEMO_ODS_CODE = 'DEMO01';
const STAFF_CODE_DAYS = 30;

/**
 * Seeds the demo practice once: one manager and two clinicians, each with a one-time set-up code, and
 * the identity of a patient to invite. No keys and no patient invitation: the gateway has no crypto; the
 * demo set-up client makes them (the patient's invitation through a staff client). A second run
 * finds the practice (the ODS code is unique) and changes nothing. Returns the sign-ins if it has them.
 */
export async function seedDemoPractice(dataSource: DataSource, credentialsFile: string): Promise<DemoCredentials | undefined> {
  const created = await dataSource.transaction(async (db) => {
    const practiceId = randomUUID();
    const inserted: unknown[] = await db.query(
      `INSERT INTO practices (id, ods_code, name, time_zone) VALUES ($1, $2, $3, $4)
       ON CONFLICT (ods_code) DO NOTHING RETURNING id`,
      [practiceId, DEMO_ODS_CODE, 'Parley Demo Surgery', 'Europe/London'],
    );
    if (inserted.length === 0) return undefined;
    await seedAlwaysOpenHours(db, practiceId);
    // A phone number for the acknowledgement's urgent advice (Ofcom's range for fiction). No terms are
    // published: the patient client has no consent screen yet, and a practice without terms asks for none.
    await new PracticeSettingsRepository(dataSource).updateTexts(practiceId, { practicePhone: '01632 960000' }, null, new Date(), db);

    const staff = [
      { email: 'manager@demo.parley.test', displayName: 'Sam Patel', roles: ['manager'] },
      { email: 'dr.morgan@demo.parley.test', displayName: 'Dr Alex Morgan', roles: ['clinician'] },
      { email: 'nurse.bennett@demo.parley.test', displayName: 'Jo Bennett (Practice Nurse)', roles: ['clinician'] },
    ];
    const staffIds: string[] = [];
    const staffWithCodes: DemoCredentials['staff'] = [];
    for (const member of staff) {
      const id = randomUUID();
      staffIds.push(id);
      await db.query(`INSERT INTO users (id, practice_id, roles, display_name, email) VALUES ($1, $2, $3, $4, $5)`, [
        id,
        practiceId,
        member.roles,
        member.displayName,
        member.email,
      ]);
    }
    const expiresAt = new Date(Date.now() + STAFF_CODE_DAYS * 24 * 3600 * 1000);
    const issueCode = async (userId: string) => {
      const code = newInvitationCode();
      await db.query(`INSERT INTO invitations (id, practice_id, user_id, code_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
        randomUUID(),
        practiceId,
        userId,
        hashInvitationCode(code),
        staffIds[0],
        expiresAt,
      ]);
      return code;
    };
    for (const [index, member] of staff.entries()) staffWithCodes.push({ ...member, code: await issueCode(staffIds[index]!) });
    const credentials: DemoCredentials = {
      practice: { odsCode: DEMO_ODS_CODE, name: 'Parley Demo Surgery' },
      staff: staffWithCodes,
      patient: { displayName: 'Chris Taylor', nhsNumber: '9990000018', dateOfBirth: '1984-05-17' },
    };
    // Written inside the transaction: if the file cannot be written, nothing is seeded and the next start retries.
    await mkdir(dirname(credentialsFile), { recursive: true });
    await writeFile(credentialsFile, JSON.stringify(credentials, null, 2), { mode: 0o600 });
    return credentials;
  });
  return created ?? readCredentials(credentialsFile);
}

async function readCredentials(file: string): Promise<DemoCredentials | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DemoCredentials;
  } catch {
    return undefined;
  }
}
