import { ready, toBase64 } from '@parley/crypto';
import type { AuditPage } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { api, apiOk, createPracticeWithStaff, invitePatient, patientActivation, type TestInvitation, type TestPractice } from '../factories.js';

// docs/threat-model.md, "Invitation guessing": someone holding a patient's letter (the code) can try dates of birth.
// An invitation survives ten wrong ones in total, however slowly they come; the tenth voids it and tells the practice.

type Refusal = { status: number; body: { error?: { code: string; message: string; details?: Record<string, unknown> } } };

describe('invitation guessing with a stolen letter (in-process gateway, real PostgreSQL)', () => {
  let gateway: TestApp;
  let practice: TestPractice;

  beforeAll(async () => {
    await ready();
    // The per-code and per-address windows must not get in the way: what is proven here is the invitation's own total.
    gateway = await startTestApp({ SIGN_IN_MAX_FAILURES_PER_ACCOUNT: '1000', SIGN_IN_MAX_FAILURES_PER_IP: '100000' });
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    await gateway.close();
  });

  const lookUp = (invitation: TestInvitation, dateOfBirth: string): Promise<Refusal> =>
    api(gateway.url, 'POST', '/api/auth/invitation', { body: { practice: practice.odsCode, lookupId: toBase64(invitation.lookupId), dateOfBirth } });
  const activate = (body: unknown): Promise<Refusal> => api(gateway.url, 'POST', '/api/auth/activate', { body });
  const wrongDate = (day: number) => `1990-01-${String(day).padStart(2, '0')}`;
  const failedAttempts = async (invitation: TestInvitation): Promise<{ failed_attempts: number; void_reason: string | null }> =>
    (await gateway.dataSource.query(`SELECT failed_attempts, void_reason FROM invitations WHERE user_id = $1`, [invitation.userId]))[0];

  it('voids an invitation at its tenth wrong date of birth, lookups and activations together, and refuses it from then on with the reason', async () => {
    const invitation = await invitePatient(gateway.url, practice.clinician, practice);
    const { body: activation } = await patientActivation(practice.odsCode, invitation);

    const answers: Refusal[] = [];
    for (let day = 1; day <= 9; day += 1) {
      answers.push(day % 2 ? await lookUp(invitation, wrongDate(day)) : await activate({ ...activation, dateOfBirth: wrongDate(day) }));
    }
    const tenth = await lookUp(invitation, wrongDate(10));
    const rightLookup = await lookUp(invitation, invitation.dateOfBirth);
    const rightActivation = await activate(activation);

    expect(answers.map((answer) => answer.status)).toEqual(Array(9).fill(401));
    for (const voided of [tenth, rightLookup, rightActivation]) {
      expect(voided).toMatchObject({ status: 403, body: { error: { code: 'forbidden', details: { reason: 'invitation_voided' } } } });
      expect(voided.body.error!.message).toMatch(/ask your practice for a new invitation/i);
    }
    expect(await failedAttempts(invitation)).toEqual({ failed_attempts: 10, void_reason: 'too_many_attempts' });
    const [activated] = await gateway.dataSource.query(`SELECT activated_at FROM users WHERE id = $1`, [invitation.userId]);
    expect(activated.activated_at).toBeNull();
  });

  it('counts in total, not in a window: nine wrong tries, the rate-limit window passing, then one more voids it', async () => {
    const invitation = await invitePatient(gateway.url, practice.clinician, practice);
    for (let day = 1; day <= 9; day += 1) await lookUp(invitation, wrongDate(day));
    await gateway.dataSource.query(`DELETE FROM auth_attempts`);

    const tenth = await lookUp(invitation, wrongDate(10));

    expect(tenth.body.error).toMatchObject({ code: 'forbidden', details: { reason: 'invitation_voided' } });
  });

  it('compares no more than ten wrong dates however many arrive at once, and refuses the right one queued behind them', async () => {
    const invitation = await invitePatient(gateway.url, practice.clinician, practice);
    for (let day = 1; day <= 5; day += 1) await lookUp(invitation, wrongDate(day));

    const burst = await Promise.all(Array.from({ length: 25 }, (_, index) => lookUp(invitation, wrongDate(index + 6))));
    const rightAfter = await lookUp(invitation, invitation.dateOfBirth);

    // Five before the burst: four of its tries are told "wrong", the fifth voids it, the rest find it void.
    expect(burst.filter((answer) => answer.status === 401)).toHaveLength(4);
    expect(burst.filter((answer) => answer.status === 403)).toHaveLength(21);
    expect(await failedAttempts(invitation)).toEqual({ failed_attempts: 10, void_reason: 'too_many_attempts' });
    expect(rightAfter.status).toBe(403);
  });

  it('tells the practice in its audit trail, and lets staff invite the patient again, an invitation that then works', async () => {
    const invitation = await invitePatient(gateway.url, practice.clinician, practice);
    for (let day = 1; day <= 10; day += 1) await lookUp(invitation, wrongDate(day));

    const trail = await apiOk<AuditPage>(gateway.url, 'GET', `/api/audit?action=invitation.voided&subjectUserId=${invitation.userId}`, {
      token: practice.manager.token,
    });
    const again = await invitePatient(gateway.url, practice.clinician, practice, { nhsNumber: invitation.nhsNumber, dateOfBirth: invitation.dateOfBirth });
    const activated = await activate((await patientActivation(practice.odsCode, again)).body);

    expect(trail.events).toHaveLength(1);
    expect(trail.events[0]).toMatchObject({
      action: 'invitation.voided',
      actorUserId: null,
      subjectUserId: invitation.userId,
      data: { reason: 'too_many_attempts', failedAttempts: 10 },
    });
    expect(JSON.stringify(trail.events[0])).not.toContain(invitation.dateOfBirth);
    expect(activated.status).toBe(200);
  });

  it('counts only wrong dates of birth: a right one after a mistake passes and leaves the count at one', async () => {
    const invitation = await invitePatient(gateway.url, practice.clinician, practice);

    await lookUp(invitation, wrongDate(1));
    const right = await lookUp(invitation, invitation.dateOfBirth);

    expect(right.status).toBe(200);
    expect(await failedAttempts(invitation)).toEqual({ failed_attempts: 1, void_reason: null });
  });
});
