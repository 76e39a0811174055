import type { Envelope } from '@parley/protocol';
import { DomainError } from '../common/domain-error.js';

/**
 * Whom an epoch's envelopes may be addressed to, for every epoch (the open's first one and each `conversation:epoch`):
 * the patient's devices (which of them are active is checked in the transaction that stores them), the patient's
 * account key, and a record key version the practice has. Which version is current is the root key's signed word,
 * which the gateway cannot check: clients seal to the newest version the root vouched for (docs/crypto.md, v2), so the
 * gateway refuses only versions the practice does not have. The account and record envelopes are required: without
 * them the practice could not read its own record, or the patient their history on a new device.
 * @throws DomainError `invalid_payload` (a duplicate key id, a recipient that is not a member, a required envelope missing), `conflict` (no record key)
 */
export function assertEnvelopeRecipients(envelopes: readonly Envelope[], patientId: string, recordKeyVersions: ReadonlySet<number>): void {
  const keyIds = new Set(envelopes.map((envelope) => envelope.recipientKeyId));
  if (keyIds.size !== envelopes.length) throw new DomainError('invalid_payload', 'Two envelopes for the same recipient key.');
  if (recordKeyVersions.size === 0) throw new DomainError('conflict', 'The practice has not set up its record key yet.');
  for (const { recipient } of envelopes) {
    const isAllowed =
      recipient.kind === 'device' ||
      (recipient.kind === 'account' && recipient.userId === patientId) ||
      (recipient.kind === 'record' && recordKeyVersions.has(recipient.version));
    if (!isAllowed) throw new DomainError('invalid_payload', `An envelope is addressed to a ${recipient.kind} that is not a member.`);
  }
  const kinds = new Set(envelopes.map((envelope) => envelope.recipient.kind));
  if (!kinds.has('record') || !kinds.has('account')) throw new DomainError('invalid_payload', 'Envelopes for the record key and the account key are required.');
}

/** Refuses envelopes addressed to a device that is not one of the patient's active ones (given those of them that are). @throws DomainError `invalid_payload` */
export function assertDevicesActive(envelopes: readonly Envelope[], activeDeviceIds: ReadonlySet<string>): void {
  for (const { recipient } of envelopes) {
    if (recipient.kind === 'device' && !activeDeviceIds.has(recipient.deviceId))
      throw new DomainError('invalid_payload', 'An envelope is addressed to a device that is not a member.');
  }
}
