// Types of nginx.mjs for the TypeScript tests.

/** Path of infra/nginx/parley.conf. */
export declare const PARLEY_CONF: string;

/** The nginx binary (NGINX_PATH, /usr/sbin/nginx), or undefined when nginx is not installed. */
export declare function findNginx(): string | undefined;

/** The staff server's name when none is given. */
export declare const DEFAULT_STAFF_HOST: string;

/** parley.conf with its upstream servers, listen addresses and staff host name pointed at local ones; throws if the file's shape changed. */
export declare function renderParleyConf(
  source: string,
  options: { listen: { host: string; port: number }; backends: { host: string; port: number }[]; staffHost?: string },
): string;

/** A running nginx with its own prefix (config, pid, logs, temp files). */
export interface Nginx {
  url: string;
  port: number;
  pid: number | undefined;
  /** The prefix folder: nginx.conf, parley.conf (rendered), access.log, error.log. */
  dir: string;
  configPath: string;
  /** `client "request" status server=name upstream=host:port` per line. */
  accessLog(): Promise<string>;
  errorLog(): Promise<string>;
  /** A no-op: nginx checks its upstreams passively (max_fails, fail_timeout). */
  checkNow(): Promise<unknown>;
  /** Fast shutdown (SIGTERM), then removes the prefix unless it was given. */
  close(): Promise<void>;
}

/** Checks the rendered configuration with `nginx -t`, starts nginx and resolves once it accepts connections. */
export declare function startNginx(options: {
  backends: { host: string; port: number }[];
  port: number;
  host?: string;
  /** The staff server's name (STAFF_PUBLIC_URL's host name); default DEFAULT_STAFF_HOST. */
  staffHost?: string;
  dir?: string;
  nginx?: string;
  startTimeoutMs?: number;
}): Promise<Nginx>;
