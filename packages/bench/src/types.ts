/** What a load worker needs about one member of a conversation (serialisable: keys as base64). */
export interface MemberSpec {
  token: string;
  userId: string;
  deviceId: string;
  role: 'patient' | 'clinician';
  signSecretKey: string;
  signPublicKey: string;
  /** The gateway node this member connects to. */
  url: string;
}

/** One open conversation with its patient and its assigned clinician. */
export interface PairSpec {
  conversationId: string;
  practiceOdsCode: string;
  patientId: string;
  patient: MemberSpec & {
    /** The epoch key the patient's client made when opening the conversation (it never left that client). */
    epochKey: string;
  };
  clinician: MemberSpec;
  /** The practice root public key both clients pinned (base64). */
  rootSignPublicKey: string;
  /** The practice record key the clinician's client opened from its device grant (box keys, base64). */
  recordKey: { boxPublicKey: string; boxSecretKey: string };
}

/** A patient of the queue scenario: signed in, with the keys it seals new conversations' envelopes to. */
export interface QueuePatientSpec {
  token: string;
  userId: string;
  deviceId: string;
  deviceBoxPublicKey: string;
  deviceSignSecretKey: string;
  accountBoxPublicKey: string;
  url: string;
}

/** A clinician of the queue scenario. */
export interface QueueClinicianSpec {
  token: string;
  userId: string;
  url: string;
}

/** Latencies (ms) and counts one worker measured in one load run. */
export interface LoadResult {
  sent: number;
  acked: number;
  delivered: number;
  errors: Record<string, number>;
  /** `rate_limited` refusals, each retried with the same payload (an outbox's behaviour). */
  shed: number;
  /** Acks received inside the measured window. */
  ackedInWindow: number;
  /** When the last ack arrived (ms on the shared monotonic clock). */
  lastAckAt: number;
  windowMs: number;
  ackMs: number[];
  deliveredMs: number[];
  /** Senders whose pre-encrypted pool ran out before the end (the offered load was then lower than asked). */
  exhaustedSenders: number;
  /** CPU time the worker used during the run (ms). */
  cpuMs: number;
  /** Delivered messages that were decrypted and verified by their receiver (a sample). */
  verified: number;
  verifyFailures: number;
}
