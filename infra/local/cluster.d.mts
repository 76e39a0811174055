// Types of cluster.mjs for the TypeScript tests that start the local cluster.
import type { LoadBalancer } from './load-balancer.d.mts';
import type { Nginx } from './nginx.d.mts';

/** Where the gateway's build is. */
export declare const GATEWAY_ENTRY: string;

/** A free loopback port. */
export declare function freePort(): Promise<number>;

/** One gateway process of the cluster. */
export interface ClusterNode {
  url: string;
  port: number;
  pid: number | undefined;
  /** Everything it printed so far. */
  output(): string;
  /** Sends a signal (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  nodes?: number;
  /** The balancer's port (0 picks one). */
  port?: number;
  /** `nginx`: nginx running infra/nginx/parley.conf; `node` (default): the loopback balancer. */
  balancer?: 'nginx' | 'node';
  /** nginx's prefix folder (default: a temporary one, removed at close). */
  nginxDir?: string;
  /** Shared PostgreSQL; without it an embedded one is started in `dataDir`. */
  databaseUrl?: string;
  /** Links the nodes through Redis; without it they are not linked. */
  redisUrl?: string;
  /** Added to every node's environment. */
  env?: Record<string, string>;
  /** Added to the first node's environment only (it starts, migrates and seeds alone). */
  firstNodeEnv?: Record<string, string>;
  entry?: string;
  dataDir?: string;
  log?: (line: string) => void;
}

/** A running cluster: nodes behind the loopback balancer or nginx. */
export interface Cluster<Balancer = LoadBalancer> {
  /** The balancer's URL: give it to clients. */
  url: string;
  databaseUrl: string;
  nodes: ClusterNode[];
  balancer: Balancer;
  /** SIGTERM (drain) or another signal, wait for the exit, start again on the same port, wait until ready. */
  restartNode(index: number, signal?: NodeJS.Signals, options?: { whileDown?: () => Promise<void> }): Promise<{ exitCode: number | null; output: string }>;
  close(): Promise<void>;
}

/** Starts the cluster; rejects (having stopped what it started) if a node does not become ready. */
export declare function startCluster(options: ClusterOptions & { balancer: 'nginx' }): Promise<Cluster<Nginx>>;
export declare function startCluster(options?: ClusterOptions & { balancer?: 'node' }): Promise<Cluster>;
