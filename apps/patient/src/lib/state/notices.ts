/**
 * Where to go instead when the practice's per-patient limit refuses a new conversation: the open one
 * (`open`: one at a time), or the phone (`daily`: as many as it takes online in a day); 111 and 999 always.
 */
export function patientLimitText(limit: 'open' | 'daily', practicePhone: string | null): string {
  const phone = practicePhone ? `phone the practice on ${practicePhone}` : 'phone the practice';
  const instead =
    limit === 'open'
      ? `You already have a conversation open with the practice. Please carry on in that one (under “Your open conversations”): the practice will answer you there. If it is about something new and cannot wait, ${phone}.`
      : `You have started as many online conversations today as the practice can take from one patient. Please ${phone}, or start a new one tomorrow.`;
  return `${instead} If it is urgent, call 111, or 999 in an emergency.`;
}

/** Plain words for every failure a patient can meet; codes come from the gateway, the sdk or the client. */
export function describeError(code: string, serverMessage?: string, retryAfterSeconds?: number): string {
  switch (code) {
    case 'unauthorized':
      return 'Those details did not match. Check them and try again.';
    case 'invitation_unknown':
      return 'That invitation code and date of birth did not match, or the code has expired or was already used. Check the letter or message from your practice, or ask them for a new code.';
    case 'invalid_invitation_code':
      return 'That is not a valid invitation code. Check it against your letter or message: it has 13 letters and numbers, like ABCD-EFGH-JKMNP.';
    case 'invitation_voided':
      return 'This invitation can no longer be used: it was tried with a wrong date of birth too many times. Please ask your practice for a new invitation.';
    case 'invitation_expired':
      return 'This invitation has expired. Please ask your practice for a new one.';
    case 'untrusted_invitation':
      return 'This invitation does not match its code. Do not continue: phone the practice.';
    case 'untrusted_account':
      return 'Your account key does not match your key backup. Do not continue: phone the practice.';
    case 'untrusted_record_key':
      return 'The practice’s record key could not be verified; your message was not sent. Phone the practice.';
    case 'conflict':
      return 'This invitation has already been used. If that was you, sign in instead; otherwise ask your practice for a new code.';
    case 'wrong_passphrase':
    case 'decrypt_failed':
      return 'That passphrase is not right. Check it and try again. The practice cannot see or reset your passphrase.';
    case 'rate_limited':
      return retryAfterSeconds === undefined
        ? 'Too many attempts. Please wait a few minutes before trying again.'
        : `Too many attempts. Please try again in ${waitText(retryAfterSeconds)}.`;
    case 'network':
    case 'unreachable':
    case 'timeout':
    case 'disconnected':
      return 'We cannot reach your practice right now. Check your internet connection and try again.';
    case 'session_expired':
      return 'Your session has ended. Please sign in again.';
    case 'outside_hours':
      // The gateway's message says when it opens next (and what to do if it is urgent).
      return serverMessage ?? 'The practice is closed for online messages just now.';
    case 'patient_limit':
      return (
        serverMessage ??
        'You have as many online conversations as the practice takes from one patient. Please carry on in your open conversation, or phone the practice. If it is urgent, call 111, or 999 in an emergency.'
      );
    case 'at_capacity':
      return serverMessage ?? 'The practice cannot take new online conversations right now. If it is urgent, call 111, or 999 in an emergency.';
    case 'not_ready':
      return 'Your practice has not finished setting up secure messaging. Please contact the practice.';
    case 'forbidden':
      return 'You cannot do that here. You may need to accept the practice’s terms first.';
    default:
      return 'Something went wrong. Please try again, or contact your practice if it keeps happening.';
  }
}

/** A wait in words: seconds under a minute, else whole minutes rounded up. */
function waitText(seconds: number): string {
  if (seconds < 60) return seconds <= 1 ? '1 second' : `${Math.ceil(seconds)} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}
