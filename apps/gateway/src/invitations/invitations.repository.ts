import { Injectable } from '@nestjs/common';
import type { Role } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { rows, run, transaction } from '../database/sql.js';

/** What a staff client signed for a patient's invitation; the code it derives from never reaches the server. */
export interface SignedInvitation {
  lookupId: Buffer;
  invitationSignPublicKey: Buffer;
  invitationSignature: Buffer;
  rootSignature: Buffer;
  creatorDeviceId: string;
}

/** A patient account or staff account to create with its one-time code. */
export interface NewAccount {
  userId: string;
  practiceId: string;
  roles: Role[];
  displayName: string;
  email: string | null;
  nhsNumber: string | null;
  dateOfBirth: string | null;
  invitationId: string;
  /** Staff: the set-up code's hash. Patients: the invitation their staff client made and signed. */
  credential: { codeHash: Buffer } | SignedInvitation;
  createdBy: string;
  expiresAt: Date;
}

/** Every query of new accounts: the account and its invitation or set-up code, and whether the inviting device is admitted. */
@Injectable()
export class InvitationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Whether a device is unrevoked and admitted by a manager with a staff certificate (v2, naming the person). */
  async isAdmittedStaffDevice(deviceId: string): Promise<boolean> {
    const found = await rows(
      this.dataSource,
      `SELECT 1 FROM devices WHERE id = $1 AND revoked_at IS NULL AND certificate IS NOT NULL AND certified_roles IS NOT NULL`,
      [deviceId],
    );
    return found.length === 1;
  }

  /** Creates an account (patient or staff) and its invitation or set-up code, in one transaction. */
  async createAccount(account: NewAccount): Promise<void> {
    const { credential } = account;
    const signed = 'lookupId' in credential ? credential : null;
    await transaction(this.dataSource, async (db) => {
      await run(db, `INSERT INTO users (id, practice_id, roles, display_name, email, nhs_number, date_of_birth) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
        account.userId,
        account.practiceId,
        account.roles,
        account.displayName,
        account.email,
        account.nhsNumber,
        account.dateOfBirth,
      ]);
      await run(
        db,
        `INSERT INTO invitations (id, practice_id, user_id, code_hash, lookup_id, invitation_sign_public_key, invitation_signature, root_signature,
           creator_device_id, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          account.invitationId,
          account.practiceId,
          account.userId,
          'codeHash' in credential ? credential.codeHash : null,
          signed?.lookupId ?? null,
          signed?.invitationSignPublicKey ?? null,
          signed?.invitationSignature ?? null,
          signed?.rootSignature ?? null,
          signed?.creatorDeviceId ?? null,
          account.createdBy,
          account.expiresAt,
        ],
      );
    });
  }
}
