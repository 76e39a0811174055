import { spawn, type ChildProcess } from 'node:child_process';

/**
 * The Node flags the gateway runs with, wherever it is started (`npm start`, the image's CMD, the gateway's own `start`
 * script, this helper): 32 MB semispaces for the young generation, so the short-lived objects of each message die in
 * fewer, cheaper collections (the garbage collector was a fifth of the gateway's CPU at its maximum rate, and half that
 * with them: docs/operations.md, "Node flags").
 */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=32'] as const;

/** A real gateway process started from its build, as `npm start` runs it. */
export interface GatewayProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Options of {@link startGatewayProcess}. */
export interface GatewayProcessOptions {
  /** Path of the gateway's built `main.js`. */
  entry: string;
  /** Added to this process's environment (PORT and HOST are set by {@link startGatewayProcess}). */
  env: Record<string, string>;
  /**
   * The port to listen on, e.g. to start a new gateway where a stopped one was (stop it and await `stop()` first).
   * Default: one the kernel picks, read from the start banner.
   */
  port?: number;
  /** How long to wait for /health/ready. */
  readyTimeoutMs?: number;
  /**
   * Resolve, not reject, when the process ends before it is ready: a fault point armed to crash it can fire while it
   * starts, as soon as clients reconnect to it.
   */
  mayEndBeforeReady?: boolean;
}

/**
 * Starts the gateway (on `options.port`, or a port the kernel picks) and resolves once /health/ready answers 200;
 * rejects with its output if it exits or is killed first (unless `mayEndBeforeReady`).
 */
export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, options.entry], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...options.env, PORT: String(options.port ?? 0), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let url = '';
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (true) {
    if (child.exitCode !== null || child.signalCode !== null) {
      if (options.mayEndBeforeReady) break;
      throw new Error(`gateway ended (${child.exitCode ?? child.signalCode}) before ready:\n${output}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway not ready in time:\n${output}`);
    }
    // The start banner names the port the kernel chose. With a fixed port, waiting for the banner still matters:
    // it shows that this process, not one still stopping on that port, is the one answering.
    const bannerUrl = output.match(/Health:\s+(http:\/\/\S+)\/health\/ready/)?.[1];
    if (bannerUrl) url ||= options.port === undefined ? bannerUrl : `http://127.0.0.1:${options.port}`;
    const isReady =
      url !== '' &&
      (await fetch(`${url}/health/ready`).then(
        (response) => response.ok,
        () => false,
      ));
    if (isReady) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  url ||= `http://127.0.0.1:${options.port ?? 0}`;
  return {
    url,
    port: Number(new URL(url).port),
    child,
    output: () => output,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
