// nginx from the distribution's package, running infra/nginx/parley.conf itself in front of local gateway nodes:
// for `npm run cluster` and the tests in apps/gateway/test/infra. The file is changed only where it names container
// addresses (the upstream servers gatewayN:3000 and `listen 8080`) and where the nginx image's template step would
// fill in the staff host name (${PARLEY_STAFF_HOST}); each replacement must find its target, so an edit to parley.conf
// that the template no longer fits fails loudly instead of quietly testing another file.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The production nginx configuration (infra/compose.yaml mounts the same file). */
export const PARLEY_CONF = join(repositoryRoot, 'infra/nginx/parley.conf');

/** The nginx binary: NGINX_PATH, else Debian's /usr/sbin/nginx, else none (`apt-get install nginx`). */
export function findNginx() {
  for (const candidate of [process.env.NGINX_PATH, '/usr/sbin/nginx', '/usr/local/sbin/nginx']) if (candidate && existsSync(candidate)) return candidate;
  return undefined;
}

/** The staff server's name when none is given: a name no request uses unless it asks for it. */
export const DEFAULT_STAFF_HOST = 'staff.localhost';

/**
 * parley.conf with the upstream servers replaced by `backends` (each keeping the production line's parameters,
 * `max_fails` and `fail_timeout`), every `listen 8080` by `listen host:port` (keeping `default_server`), and
 * `${PARLEY_STAFF_HOST}` by `staffHost`, as the nginx image's template step does with env/nginx.env. Throws if the
 * file no longer has the shape this expects.
 * @param {string} source the text of parley.conf
 * @param {{ listen: { host: string, port: number }, backends: { host: string, port: number }[], staffHost?: string }} options
 */
export function renderParleyConf(source, { listen, backends, staffHost = DEFAULT_STAFF_HOST }) {
  const serverLines = /^([ \t]*)server gateway\d+:3000( [^;\n]*)?;\n(?:\1server gateway\d+:3000\2?;\n)*/m;
  const servers = serverLines.exec(source);
  if (!servers) throw new Error('parley.conf: no `server gatewayN:3000 ...;` lines in the upstream block to point at the local nodes');
  if (backends.length === 0) throw new Error('at least one backend is needed');
  const [, indent, parameters = ''] = servers;
  const rendered = source.replace(serverLines, backends.map(({ host, port }) => `${indent}server ${host}:${port}${parameters};\n`).join(''));
  const listenLines = /^([ \t]*)listen 8080( default_server)?;$/gm;
  if (!listenLines.test(rendered)) throw new Error('parley.conf: no `listen 8080;` line to point at the local port');
  if (!/^\s*server_name \$\{PARLEY_STAFF_HOST\};$/m.test(rendered))
    throw new Error('parley.conf: no `server_name ${PARLEY_STAFF_HOST};` line for the staff host');
  if (!/^[a-z0-9.-]+$/.test(staffHost)) throw new Error(`not a host name: ${staffHost}`);
  return rendered.replace(listenLines, `$1listen ${listen.host}:${listen.port}$2;`).replaceAll('${PARLEY_STAFF_HOST}', staffHost);
}

/** The outer nginx.conf: a private prefix (pid, logs, temp files) around the rendered parley.conf. */
function mainConf(dir) {
  return [
    '# Written by infra/local/nginx.mjs: a private nginx around parley.conf (rendered beside this file).',
    'daemon off;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    // The upstream that answered, so tests and people can see which node served which client address; the server (host name) that took it.
    '  log_format parley_local \'$remote_addr "$request" $status server=$server_name upstream=$upstream_addr\';',
    `  access_log ${join(dir, 'access.log')} parley_local;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(dir, kind)};`),
    `  include ${join(dir, 'parley.conf')};`,
    '}',
    '',
  ].join('\n');
}

/** Resolves once something accepts TCP connections on host:port. */
function canConnect(host, port) {
  return new Promise((resolveConnect) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolveConnect(true);
    });
    socket.once('error', () => resolveConnect(false));
  });
}

/**
 * Checks the rendered configuration with `nginx -t`, starts nginx in the foreground with its own prefix in `dir`
 * (a new temporary folder by default) and resolves once it accepts connections on `port`.
 * @param {{ backends: { host: string, port: number }[], port: number, host?: string, staffHost?: string, dir?: string, nginx?: string, startTimeoutMs?: number }} options
 */
export async function startNginx({ backends, port, host = '127.0.0.1', staffHost, dir, nginx = findNginx(), startTimeoutMs = 10_000 }) {
  if (!nginx) throw new Error('nginx not found: `apt-get install nginx` (or set NGINX_PATH)');
  const prefix = dir ?? (await mkdtemp(join(tmpdir(), 'parley-nginx-')));
  await mkdir(prefix, { recursive: true });
  // Run as root, nginx's workers are `nobody`: they must reach the temp folders under the prefix.
  await chmod(prefix, 0o755);
  const configPath = join(prefix, 'nginx.conf');
  await writeFile(join(prefix, 'parley.conf'), renderParleyConf(await readFile(PARLEY_CONF, 'utf8'), { listen: { host, port }, backends, staffHost }));
  await writeFile(configPath, mainConf(prefix));
  const args = ['-p', prefix, '-c', configPath, '-e', join(prefix, 'error.log')];
  const errorLog = () => readFile(join(prefix, 'error.log'), 'utf8').catch(() => '');
  await run(nginx, ['-t', '-q', ...args]).catch(async (error) => {
    throw new Error(`nginx -t refused the rendered parley.conf:\n${error.stderr || ''}${await errorLog()}`);
  });
  const child = spawn(nginx, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // TERM is nginx's fast shutdown: it does not wait for open WebSockets as QUIT would.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (!dir) await rm(prefix, { recursive: true, force: true });
  };
  const deadline = Date.now() + startTimeoutMs;
  while (!(await canConnect(host, port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = await errorLog();
      await stop();
      throw new Error(`nginx did not start on ${host}:${port}:\n${stderr}${log}`);
    }
    await new Promise((wake) => setTimeout(wake, 50));
  }
  return {
    url: `http://${host}:${port}`,
    port,
    pid: child.pid,
    dir: prefix,
    configPath,
    /** The access log so far: `client "request" status server=name upstream=host:port` per line. */
    accessLog: () => readFile(join(prefix, 'access.log'), 'utf8').catch(() => ''),
    errorLog,
    /** nginx has no active health checks (that is nginx Plus): a failed node is skipped for `fail_timeout` after a failure. */
    checkNow: async () => undefined,
    close: stop,
  };
}
