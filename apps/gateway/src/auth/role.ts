/** What a user may be; a manager may also be a clinician. */
export const ROLES = ['patient', 'clinician', 'manager'] as const;
export type Role = (typeof ROLES)[number];
