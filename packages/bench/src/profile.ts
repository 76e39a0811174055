/** A V8 CPU profile as the inspector's Profiler.stop (or `node --cpu-prof`) writes it. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

/** One line of the summary: self time of a function or of a package. */
export interface ProfileLine {
  name: string;
  selfMs: number;
  share: number;
}

/** The top self-time functions and where the time goes by package (idle time left out of the shares). */
export interface ProfileSummary {
  totalMs: number;
  idleShare: number;
  functions: ProfileLine[];
  packages: ProfileLine[];
}

/** Sums self time per function and per package (node_modules package, our gateway's folder, Node internals, GC). */
export function summariseProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0) {
    samples.forEach((nodeId, index) => selfUs.set(nodeId, (selfUs.get(nodeId) ?? 0) + Math.max(0, deltas[index + 1] ?? deltas[index] ?? 0)));
  } else {
    const interval =
      (profile.endTime - profile.startTime) /
      Math.max(
        1,
        profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0),
      );
    for (const node of profile.nodes) selfUs.set(node.id, (node.hitCount ?? 0) * interval);
  }
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const place = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const name = `${functionName || '(anonymous)'}${place ? ` ${place}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const pkg = packageOf(functionName, url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  const lines = (map: Map<string, number>, count: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: us / busyUs }));
  return { totalMs: totalUs / 1000, idleShare: idleUs / Math.max(1, totalUs), functions: lines(byFunction, top), packages: lines(byPackage, 12) };
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '');
  const apps = url.indexOf('/apps/');
  if (apps >= 0) return url.slice(apps + 1);
  return url.replace(/^file:\/\//, '');
}

/** Which package a frame belongs to: `pg`, `socket.io`, `@nestjs/core`, `gateway (ours)`, `node internals`, `(garbage collector)`… */
export function packageOf(functionName: string, url: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? 'node_modules');
  }
  if (url.includes('/apps/gateway/')) return 'gateway (ours)';
  if (url.includes('/packages/protocol/')) return '@parley/protocol (ours)';
  if (url.includes('/packages/bench/')) return 'bench probe';
  return 'other';
}
