import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { GATEWAY_NODE_FLAGS, startGatewayProcess, type GatewayProcess, type TestDatabase } from '@parley/testing';
import { loadConfig } from '../../src/config.js';
import { freshDatabase } from '../database.js';

// What can be checked of infra/compose.yaml and infra/Dockerfile without a container engine (none runs here):
// the compose file through Debian's docker-compose `config` (schema and references), and the Dockerfile's build steps
// run outside a container: its manifests against the lockfile, its install step on exactly those manifests, and its
// `pnpm deploy` output started as the image's CMD would, with the image's environment and HEALTHCHECK.
const run = promisify(execFile);
const REPOSITORY = join(import.meta.dirname, '..', '..', '..', '..');
const INFRA = join(REPOSITORY, 'infra');
const PNPM = join(REPOSITORY, 'node_modules', '.bin', 'pnpm');
const dockerCompose = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((path) => existsSync(path));
if (!dockerCompose)
  console.log(
    'skipping the compose file check (test/infra/container-files.spec.ts): docker-compose is not installed (apt-get install --no-install-recommends docker-compose; .ci/run installs it)',
  );

const readInfra = (path: string) => readFile(join(INFRA, path), 'utf8');

/** The Dockerfile's instructions, continuation lines joined. */
async function dockerfileInstructions(): Promise<string[]> {
  return (await readInfra('Dockerfile'))
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
}

/** The files `COPY <files> <dir>` puts in the build stage before its `RUN pnpm install` (the dependency layer). */
async function manifestsBeforeInstall(): Promise<string[]> {
  const instructions = await dockerfileInstructions();
  const install = instructions.findIndex((line) => /^RUN pnpm install\b/.test(line));
  return instructions
    .slice(0, install)
    .filter((line) => line.startsWith('COPY ') && !line.includes('--from'))
    .flatMap((line) => {
      const [, ...parts] = line.split(/\s+/);
      const destination = parts.pop()!;
      return parts.map((source) => (destination === './' ? source : join(destination, source.split('/').pop()!)));
    });
}

describe('infra/Dockerfile, its build steps run outside a container', () => {
  let work: string;
  let database: TestDatabase;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'parley-dockerfile-'));
  });

  afterAll(async () => {
    await gateway?.stop();
    await database?.drop();
    await rm(work, { recursive: true, force: true });
    // pnpm's legacy deploy to a folder outside the workspace can also leave bin links at apps/<that folder's name>/out
    // (seen with the checkout in /tmp): removed too, or the architecture test, run after this file, finds a folder in
    // apps/ that is no package.
    await rm(join(REPOSITORY, 'apps', basename(work)), { recursive: true, force: true });
  });

  it('copies every workspace package manifest of the lockfile before installing, and installs from exactly those files', async () => {
    const lockfile = await readFile(join(REPOSITORY, 'pnpm-lock.yaml'), 'utf8');
    const importers = [...lockfile.slice(lockfile.indexOf('\nimporters:\n'), lockfile.indexOf('\npackages:\n')).matchAll(/^ {2}(\S+):$/gm)].map((m) => m[1]!);
    const copied = await manifestsBeforeInstall();
    const stage = join(work, 'install');
    for (const file of copied) {
      await mkdir(dirname(join(stage, file)), { recursive: true });
      await cp(join(REPOSITORY, file), join(stage, file));
    }

    // The Dockerfile's `RUN pnpm install --frozen-lockfile`, offline from this machine's store.
    const install = await run(PNPM, ['install', '--frozen-lockfile', '--offline', '--reporter=append-only'], {
      cwd: stage,
      env: { ...process.env, CI: 'true' },
    }).then(
      () => 0,
      (error: { code?: number; stdout?: string }) => (console.log(error.stdout), error.code ?? 1),
    );

    expect(importers.length).toBeGreaterThan(5);
    expect(importers.map((importer) => (importer === '.' ? 'package.json' : `${importer}/package.json`)).filter((file) => !copied.includes(file))).toEqual([]);
    expect(install).toBe(0);
  }, 60_000);

  it("starts the gateway with the same Node flags as the image's CMD wherever else it starts: npm start and the gateway's start script", async () => {
    const startScript = JSON.parse(await readFile(join(REPOSITORY, 'apps/gateway/package.json'), 'utf8')).scripts.start as string;
    const npmStart = await readFile(join(REPOSITORY, 'scripts/start.mjs'), 'utf8');

    expect(startScript).toBe(['node', ...GATEWAY_NODE_FLAGS, 'dist/main.js'].join(' '));
    expect(npmStart).toContain(
      `spawn(process.execPath, [${GATEWAY_NODE_FLAGS.map((flag) => `'${flag}'`).join(', ')}, join(root, 'apps/gateway/dist/main.js')]`,
    );
  });

  it("deploys the gateway with pnpm deploy as the build stage does, and the result starts as the image's CMD with its environment and passes its HEALTHCHECK", async () => {
    const instructions = await dockerfileInstructions();
    const deployStep = instructions.find((line) => line.includes('pnpm --filter @parley/gateway deploy'))!;
    const healthcheck = instructions.find((line) => line.startsWith('HEALTHCHECK'))!.match(/CMD node -e "(.*)"$/)![1]!;
    const imageEnv = Object.fromEntries(
      [
        ...instructions
          .filter((line) => line.startsWith('ENV '))
          .pop()!
          .slice(4)
          .matchAll(/(\w+)=(\S+)/g),
      ].map((m) => [m[1]!, m[2]!]),
    );
    const out = join(work, 'out');
    database = await freshDatabase();

    // RUN pnpm --filter @parley/gateway deploy --legacy --prod /out && cp -r apps/patient/dist /out/web/patient ...
    // A legacy deploy resolves again from package metadata: the machine's cache when it has it, the npm registry otherwise
    // (`--offline` failed on a machine whose metadata cache was empty, though its store held every package).
    await run(PNPM, ['--filter', '@parley/gateway', 'deploy', '--legacy', '--prod', '--prefer-offline', out], {
      cwd: REPOSITORY,
      env: { ...process.env, CI: 'true' },
    });
    await cp(join(REPOSITORY, 'apps/patient/dist'), join(out, 'web/patient'), { recursive: true });
    await cp(join(REPOSITORY, 'apps/staff/dist'), join(out, 'web/staff'), { recursive: true });
    // The image listens on 0.0.0.0:3000; here on a loopback port, with the web clients where the image keeps them.
    const env = {
      ...imageEnv,
      PATIENT_DIST: imageEnv['PATIENT_DIST']!.replace('/app', out),
      STAFF_DIST: imageEnv['STAFF_DIST']!.replace('/app', out),
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
    };
    gateway = await startGatewayProcess({ entry: join(out, 'dist/main.js'), env });
    const health = await run(process.execPath, ['-e', healthcheck.replace('127.0.0.1:3000', `127.0.0.1:${gateway.port}`)]).then(
      () => 0,
      (error: { code?: number }) => error.code ?? 1,
    );
    const patientPage = await fetch(`${gateway.url}/`);
    const staffPage = await fetch(`${gateway.url}/staff/`);

    expect(deployStep).toContain('deploy --legacy --prod /out');
    // Started here by startGatewayProcess, with the flags it gives every gateway: the image's CMD gives the same.
    expect(JSON.parse(instructions.find((line) => line.startsWith('CMD '))!.slice(4))).toEqual(['node', ...GATEWAY_NODE_FLAGS, 'dist/main.js']);
    expect(imageEnv).toMatchObject({ NODE_ENV: 'production', PATIENT_DIST: '/app/web/patient', STAFF_DIST: '/app/web/staff' });
    expect(health).toBe(0);
    expect([patientPage.status, staffPage.status]).toEqual([200, 200]);
    expect(await staffPage.text()).toContain('<html');
  }, 90_000);
});

(dockerCompose ? describe : describe.skip)('infra/compose.yaml through docker-compose config (Debian 12 ships Compose v1: no container is run)', () => {
  it('is valid and its references hold: env files, mounted files, the Dockerfile, nginx upstreams and Prometheus targets', async () => {
    const work = await mkdtemp(join(tmpdir(), 'parley-compose-'));
    try {
      const infra = join(work, 'infra');
      await cp(INFRA, infra, { recursive: true });
      for (const name of ['gateway', 'postgres', 'nginx']) await cp(join(infra, `env/${name}.env.example`), join(infra, `env/${name}.env`));
      await writeFile(join(infra, 'env/metrics-token'), 'a'.repeat(64));
      const compose = await readInfra('compose.yaml');
      // Compose v1's schema predates the top-level `name` (Compose v2 reads it): checked here, then left out.
      await writeFile(join(infra, 'compose.yaml'), compose.replace(/^name: parley\n/m, ''));

      const { stdout } = await run(dockerCompose!, ['-f', join(infra, 'compose.yaml'), 'config', '--services'], { cwd: infra });
      const services = stdout.trim().split('\n').sort();
      const nginxConf = await readInfra('nginx/parley.conf');
      const upstreams = [...nginxConf.matchAll(/^\s*server (\w+):3000\b/gm)].map((m) => m[1]);
      const prometheus = await readInfra('prometheus/prometheus.yml');
      const gatewayEnv = await readInfra('env/gateway.env.example');
      const envOf = (text: string) => Object.fromEntries([...text.matchAll(/^(\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
      const staffHost = envOf(await readInfra('env/nginx.env.example'))['PARLEY_STAFF_HOST'];

      expect(compose).toMatch(/^name: parley$/m);
      expect(services).toEqual(['gateway1', 'gateway2', 'nginx', 'postgres', 'prometheus', 'redis']);
      expect(upstreams).toEqual(['gateway1', 'gateway2']);
      for (const target of ['gateway1:3000', 'gateway2:3000']) expect(prometheus).toContain(target);
      // parley.conf as the nginx image's template, its staff host name from env/nginx.env: the staff origin of gateway.env's STAFF_PUBLIC_URL.
      expect(compose).toContain('./nginx/parley.conf:/etc/nginx/templates/default.conf.template:ro');
      expect(compose).toMatch(/^ {2}nginx:\n(?: {4}.*\n)*? {4}env_file: \[env\/nginx\.env\]$/m);
      expect(nginxConf).toMatch(/^\s*server_name \$\{PARLEY_STAFF_HOST\};$/m);
      expect(loadConfig({ ...envOf(gatewayEnv), METRICS_TOKEN: 'a'.repeat(64) }).staffPublicUrl).toBe(`https://${staffHost}`);
      expect(compose).toContain('dockerfile: infra/Dockerfile');
      expect(compose).toMatch(/ports: \["8080:8080"\]/);
      expect(nginxConf).toMatch(/^\s*listen 8080;$/m);
      expect(gatewayEnv).toMatch(/^DATABASE_URL=postgres:\/\/\w+:[^@]+@postgres:5432\//m);
      expect(gatewayEnv).toMatch(/^REDIS_URL=redis:\/\/redis:6379$/m);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }, 60_000);
});
