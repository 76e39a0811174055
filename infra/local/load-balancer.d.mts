// Types of load-balancer.mjs for the TypeScript tests.

/** A gateway node behind the balancer. */
export interface Backend {
  name: string;
  host: string;
  port: number;
}

/** Per backend: taking new connections, WebSockets open now, WebSockets opened in all. */
export type BackendStats = Record<string, { isHealthy: boolean; sockets: number; upgrades: number }>;

/** The loopback balancer. */
export interface LoadBalancer {
  url: string;
  port: number;
  setBackends(backends: Backend[]): void;
  stats(): BackendStats;
  /** Runs the health checks now rather than at the next interval. */
  checkNow(): Promise<unknown>;
  close(): Promise<void>;
}

/** Starts the balancer on `port` (0 picks one). */
export declare function startLoadBalancer(options: { backends: Backend[]; port?: number; host?: string; healthIntervalMs?: number }): Promise<LoadBalancer>;
