/** socket.io room names (`kind:id`); built only here. */
export const rooms = {
  /** Every socket that joined a conversation after an authorisation check. */
  conversation: (conversationId: string) => `conversation:${conversationId}`,
  /** Every socket of one user, on any device. */
  user: (userId: string) => `user:${userId}`,
  /** Every socket of one device. */
  device: (deviceId: string) => `device:${deviceId}`,
  /** Every socket opened with one session. */
  session: (sessionId: string) => `session:${sessionId}`,
  /** Every staff socket of one practice. */
  practiceStaff: (practiceId: string) => `staff:${practiceId}`,
  /** Every patient socket of one practice (joined by the hours gateway: they get `hours:status`). */
  practicePatients: (practiceId: string) => `patients:${practiceId}`,
} as const;
