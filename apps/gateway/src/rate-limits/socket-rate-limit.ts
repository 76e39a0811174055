/** A token bucket: `burst` tokens at most, refilled at `perSecond`; each event takes one. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.updatedAt = now();
  }

  /** Takes a token if there is one. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Whether the bucket is full again (its owner has been quiet long enough to forget). */
  get isFull(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.perSecond);
    this.updatedAt = now;
  }
}

/** The limits of {@link SocketRateLimiter}, from config. */
export interface SocketRateLimits {
  socketEventsPerSecond: number;
  socketEventBurst: number;
  userEventsPerSecond: number;
  userEventBurst: number;
  connectionsPerIpPerMinute: number;
}

/** Past this many tracked users or addresses, buckets that refilled completely are dropped. */
const PRUNE_ABOVE = 10_000;

/**
 * Flood limits of one gateway node, in memory: socket commands per socket and per user (across that
 * user's sockets on this node), and new connections per client address. They stop one client from
 * starving the others; guessing limits (sign-in, activation) are kept in PostgreSQL instead, so they
 * hold across nodes (RateLimitService). A user with sockets on several nodes gets the per-user budget
 * once per node: the per-socket limit still holds everywhere.
 */
export class SocketRateLimiter {
  private readonly users = new Map<string, TokenBucket>();
  private readonly addresses = new Map<string, TokenBucket>();

  constructor(
    private readonly limits: SocketRateLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a new connection from `address`; false when that address is opening them too fast. */
  allowConnection(address: string): boolean {
    const perMinute = this.limits.connectionsPerIpPerMinute;
    return this.bucket(this.addresses, address, perMinute / 60, perMinute).take();
  }

  /** A new socket's own bucket. */
  socketBucket(): TokenBucket {
    return new TokenBucket(this.limits.socketEventsPerSecond, this.limits.socketEventBurst, this.now);
  }

  /** Counts one command of a socket and its user; false when either is over its limit. */
  allowEvent(socket: TokenBucket, userId: string): boolean {
    // The socket's token is spent first: a socket over its own limit does not eat into its user's other sockets.
    if (!socket.take()) return false;
    return this.bucket(this.users, userId, this.limits.userEventsPerSecond, this.limits.userEventBurst).take();
  }

  private bucket(buckets: Map<string, TokenBucket>, key: string, perSecond: number, burst: number): TokenBucket {
    let bucket = buckets.get(key);
    if (!bucket) {
      if (buckets.size >= PRUNE_ABOVE) for (const [other, idle] of buckets) if (idle.isFull) buckets.delete(other);
      bucket = new TokenBucket(perSecond, burst, this.now);
      buckets.set(key, bucket);
    }
    return bucket;
  }
}
