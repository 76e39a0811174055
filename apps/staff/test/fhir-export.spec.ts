import { createHash } from 'node:crypto';
import type { ChatEntry } from '@parley/sdk';
import { buildFhirBundle, buildTranscript, type ExportedFile, type ExportInput } from '../src/lib/export/fhir.js';
import { validateFhirR4 } from './fhir-validator.js';

// The export builder on its own (pure), validated with the FHIR R4 StructureDefinitions; the browser test exports a real conversation.
describe('FHIR R4 export', () => {
  const conversationId = '0b6f7c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b';
  const patientId = '11111111-2222-4333-8444-555555555555';
  const clinicianId = '66666666-7777-4888-9999-aaaaaaaaaaaa';
  type Attachment = Extract<ChatEntry, { kind: 'message' }>['attachments'][number];
  const message = (seq: number, isPatient: boolean, body: string, redFlags: string[] = [], attachments: Attachment[] = []): ChatEntry => ({
    kind: 'message',
    seq,
    serverTime: `2026-11-21T10:0${seq}:00.000Z`,
    senderUserId: isPatient ? patientId : clinicianId,
    senderDeviceId: 'd',
    senderRole: isPatient ? 'patient' : 'clinician',
    senderName: isPatient ? 'Ada Lovelace' : 'Dr Alex Morgan',
    clientMessageId: `00000000-0000-4000-8000-00000000000${seq}`,
    body,
    clientSentAt: `2026-11-21T10:0${seq}:00.000Z`,
    redFlags,
    attachments,
    isMine: !isPatient,
  });
  const photo: Attachment = {
    id: '77777777-0000-4000-8000-000000000001',
    type: 'image/jpeg',
    name: 'rash.jpg',
    size: 1_258_291,
    key: 'k',
    header: 'h',
    hash: 'x',
    width: 1600,
    height: 1200,
  };
  const letter: Attachment = {
    id: '77777777-0000-4000-8000-000000000002',
    type: 'application/pdf',
    name: 'Hospital letter.pdf',
    size: 40_000,
    key: 'k',
    header: 'h',
    hash: 'x',
  };
  /** A file as the browser hands it to the export: bytes, type, size and SHA-1, base64. */
  const exported = (bytes: Buffer, contentType: string): ExportedFile => ({
    contentType,
    data: bytes.toString('base64'),
    size: bytes.length,
    hash: createHash('sha1').update(bytes).digest('base64'),
  });
  const jpegBytes = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 0xff, 0xd9]);
  const pdfBytes = Buffer.from('%PDF-1.4\n%%EOF\n');
  const input = (entries: ChatEntry[]): ExportInput => ({
    conversation: {
      id: conversationId,
      practiceId: 'p',
      practiceOdsCode: 'Y01234',
      patientId,
      topic: 'test-results',
      status: 'closed',
      assignedClinicianId: clinicianId,
      currentEpoch: 1,
      lastSeq: 4,
      createdAt: '2026-11-21T09:59:00.000Z',
      urgentAt: null,
    },
    patient: { id: patientId, name: 'Ada Lovelace' },
    practiceName: 'Test Surgery',
    entries,
    exportedAt: '2026-11-21T11:00:00.000Z',
  });

  it('makes a valid collection Bundle: Patient, Practitioner, one Communication per message (system events left out)', async () => {
    const entries: ChatEntry[] = [
      { kind: 'system', seq: 1, serverTime: '2026-11-21T10:00:00.000Z', event: 'opened', data: { topic: 'test-results' } },
      message(2, true, 'Are my results back?'),
      message(3, false, 'Yes, all normal.'),
    ];

    const bundle = buildFhirBundle(input(entries)) as { entry: { resource: Record<string, unknown> }[] };

    await expect(validateFhirR4(bundle)).resolves.toBeUndefined();
    expect(bundle.entry.map((e) => e.resource['resourceType'])).toEqual(['Patient', 'Practitioner', 'Communication', 'Communication']);
    expect(bundle.entry[2]!.resource).toMatchObject({
      status: 'completed',
      sent: '2026-11-21T10:02:00.000Z',
      topic: { text: 'test-results' },
      recipient: [{ reference: `urn:uuid:${clinicianId}` }],
      payload: [{ contentString: 'Are my results back?' }],
    });
  });

  it('stays valid when only the patient wrote (the practice is the recipient), and the transcript names each sender', async () => {
    const only = input([message(2, true, 'Hello?')]);

    await expect(validateFhirR4(buildFhirBundle(only))).resolves.toBeUndefined();
    expect(buildTranscript(only)).toMatch(/Ada Lovelace: Hello\?\n$/);
  });

  it('records the red-flag screening: an urgent Communication with a note, and the transcript says it', async () => {
    const entries: ChatEntry[] = [
      message(2, true, 'I have crushing chest pain', ['chest_pain', 'breathing']),
      { kind: 'system', seq: 3, serverTime: '2026-11-21T10:03:00.000Z', event: 'marked_urgent', data: {} },
      message(4, false, 'Please call 999 now.'),
    ];

    const bundle = buildFhirBundle(input(entries)) as { entry: { resource: Record<string, unknown> }[] };
    const transcript = buildTranscript(input(entries));

    await expect(validateFhirR4(bundle)).resolves.toBeUndefined();
    expect(bundle.entry[2]!.resource).toMatchObject({
      priority: 'urgent',
      note: [{ text: 'Red flag: chest pain and difficulty breathing. The patient was shown the 999/111 advice and chose to send.' }],
    });
    expect(bundle.entry[3]!.resource).not.toHaveProperty('priority');
    expect(bundle.entry[3]!.resource).not.toHaveProperty('note');
    expect(transcript).toContain(
      'Ada Lovelace: I have crushing chest pain\n    (Red flag: chest pain and difficulty breathing. The patient was shown the 999/111 advice and chose to send.)\n',
    );
    expect(transcript).toContain('(marked urgent by the patient’s device after the 999/111 advice; placed at the head of the queue)');
  });

  it('words system events in the transcript in the export words, one an older app does not know by its name', () => {
    const entries: ChatEntry[] = [
      { kind: 'system', seq: 1, serverTime: '2026-11-21T10:00:00.000Z', event: 'opened', data: { topic: 'test-results' } },
      { kind: 'system', seq: 2, serverTime: '2026-11-21T10:01:00.000Z', event: 'assigned', data: { clinicianId, how: 'claim' } },
      { kind: 'system', seq: 3, serverTime: '2026-11-21T10:02:00.000Z', event: 'unrecognised', data: { name: 'consulted' } },
      { kind: 'system', seq: 4, serverTime: '2026-11-21T10:03:00.000Z', event: 'closed', data: { outcome: 'resolved' } },
    ];

    const transcript = buildTranscript(input(entries));

    expect(
      transcript
        .split('\n')
        .slice(6, 10)
        .map((line) => line.replace(/^\[[^\]]+\] /, '')),
    ).toEqual(['(conversation opened)', '(assigned to a clinician)', '(consulted)', '(closed)']);
  });

  it('says in the transcript where an entry could not be opened, in its place', () => {
    const transcript = buildTranscript({ ...input([message(2, true, 'First'), message(4, true, 'Third')]), unopenedSeqs: [3] });

    expect(transcript).toMatch(
      /Ada Lovelace: First\n\[—\] \(an entry here could not be opened on this computer: its content is not in this transcript\)\n.*Ada Lovelace: Third\n$/,
    );
  });

  it('embeds a photo and a PDF as FHIR Attachments after the caption (type, data, size, SHA-1 hash, title, creation), and the transcript lists them', async () => {
    const files = new Map([
      [photo.id, exported(jpegBytes, 'image/jpeg')],
      [letter.id, exported(pdfBytes, 'application/pdf')],
    ]);
    const exportInput = { ...input([message(2, true, 'The rash and the letter', [], [photo, letter]), message(3, false, 'Thank you.')]), files };

    const bundle = buildFhirBundle(exportInput) as { entry: { resource: Record<string, unknown> }[] };
    const transcript = buildTranscript(exportInput);

    await expect(validateFhirR4(bundle)).resolves.toBeUndefined();
    expect(bundle.entry[2]!.resource['payload']).toEqual([
      { contentString: 'The rash and the letter' },
      {
        contentAttachment: {
          contentType: 'image/jpeg',
          data: jpegBytes.toString('base64'),
          size: jpegBytes.length,
          hash: createHash('sha1').update(jpegBytes).digest('base64'),
          title: 'rash.jpg',
          creation: '2026-11-21T10:02:00.000Z',
        },
      },
      { contentAttachment: expect.objectContaining({ contentType: 'application/pdf', data: pdfBytes.toString('base64'), title: 'Hospital letter.pdf' }) },
    ]);
    expect(bundle.entry[2]!.resource).not.toHaveProperty('note');
    expect(transcript).toContain(
      'Ada Lovelace: The rash and the letter\n    Attachment: rash.jpg (JPEG photo, 1.2 MB)\n    Attachment: Hospital letter.pdf (PDF document, 39 KB)\n',
    );
  });

  it('keeps a photo sent without a caption valid (no empty string), and names a file that could not be opened instead of dropping it', async () => {
    const exportInput = { ...input([message(2, true, '', [], [photo, letter])]), files: new Map([[photo.id, exported(jpegBytes, 'image/jpeg')]]) };

    const bundle = buildFhirBundle(exportInput) as { entry: { resource: Record<string, unknown> }[] };
    const transcript = buildTranscript(exportInput);

    await expect(validateFhirR4(bundle)).resolves.toBeUndefined();
    const payload = bundle.entry[1]!.resource['payload'] as Record<string, unknown>[];
    expect(payload.map((part) => Object.keys(part))).toEqual([['contentAttachment'], ['contentAttachment']]);
    expect(payload[1]).toEqual({
      contentAttachment: { contentType: 'application/pdf', size: 40_000, title: 'Hospital letter.pdf', creation: '2026-11-21T10:02:00.000Z' },
    });
    expect(bundle.entry[1]!.resource['note']).toEqual([
      { text: 'The attachment Hospital letter.pdf could not be opened on this computer: its content is not in this export.' },
    ]);
    expect(transcript).toContain('Attachment: Hospital letter.pdf (PDF document, 39 KB; could not be opened on this computer, not in the export)');
  });
});
