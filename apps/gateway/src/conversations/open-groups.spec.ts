import { DomainError } from '../common/domain-error.js';
import { OpenGroups } from './open-groups.js';

/** A group run the test finishes by hand. */
interface HeldGroup {
  tasks: readonly { key: string; n: number }[];
  finish: () => void;
  fail: (error: unknown) => void;
}

function heldGroups(limits: { maxGroups: number; maxGroupSize: number; maxWaiting: number }) {
  const groups: HeldGroup[] = [];
  const sut = new OpenGroups<{ key: string; n: number }, number>(
    limits,
    (task) => task.key,
    (tasks) =>
      new Promise<number[]>((resolve, reject) => {
        groups.push({ tasks, finish: () => resolve(tasks.map((task) => task.n * 10)), fail: reject });
      }),
  );
  return { sut, groups };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe(OpenGroups.name, () => {
  it('starts a lone task at once, and groups the tasks that arrive meanwhile, in arrival order', async () => {
    const { sut, groups } = heldGroups({ maxGroups: 1, maxGroupSize: 10, maxWaiting: 100 });

    const first = sut.run({ key: 'a', n: 1 });
    const rest = [2, 3, 4].map((n) => sut.run({ key: `k${n}`, n }));
    await settle();
    expect(groups.map((group) => group.tasks.map((task) => task.n))).toEqual([[1]]);
    groups[0]!.finish();
    await settle();

    expect(await first).toBe(10);
    expect(groups.map((group) => group.tasks.map((task) => task.n))).toEqual([[1], [2, 3, 4]]);
    groups[1]!.finish();
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(sut.queued).toBe(0);
  });

  it('never puts two tasks of one key in a group, and keeps the second for a later one', async () => {
    const { sut, groups } = heldGroups({ maxGroups: 1, maxGroupSize: 10, maxWaiting: 100 });

    const answers = [sut.run({ key: 'x', n: 0 }), sut.run({ key: 'p', n: 1 }), sut.run({ key: 'p', n: 2 }), sut.run({ key: 'q', n: 3 })];
    await settle();
    groups[0]!.finish();
    await settle();
    groups[1]!.finish();
    await settle();
    groups[2]!.finish();

    expect(await Promise.all(answers)).toEqual([0, 10, 20, 30]);
    expect(groups.map((group) => group.tasks.map((task) => task.n))).toEqual([[0], [1, 3], [2]]);
  });

  it('runs at most maxGroups groups at once, each of at most maxGroupSize tasks', async () => {
    const { sut, groups } = heldGroups({ maxGroups: 2, maxGroupSize: 2, maxWaiting: 100 });

    const answers = [1, 2, 3, 4, 5, 6].map((n) => sut.run({ key: `k${n}`, n }));
    await settle();
    expect(groups.map((group) => group.tasks.map((task) => task.n))).toEqual([[1], [2]]);
    groups[0]!.finish();
    groups[1]!.finish();
    await settle();
    expect(groups.map((group) => group.tasks.map((task) => task.n))).toEqual([[1], [2], [3, 4], [5, 6]]);
    groups[2]!.finish();
    groups[3]!.finish();

    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it('refuses rate_limited at once beyond maxWaiting, and answers every task of a failed group with its error', async () => {
    const { sut, groups } = heldGroups({ maxGroups: 1, maxGroupSize: 10, maxWaiting: 2 });

    const running = sut.run({ key: 'a', n: 1 });
    await settle();
    const waiting = [sut.run({ key: 'b', n: 2 }), sut.run({ key: 'c', n: 3 })];
    const refused = sut.run({ key: 'd', n: 4 });
    await expect(refused).rejects.toEqual(new DomainError('rate_limited', 'The server is busy; try again shortly.'));
    groups[0]!.fail(new Error('connection lost'));
    await expect(running).rejects.toThrow('connection lost');
    await settle();
    groups[1]!.fail(new Error('again'));

    await expect(Promise.all(waiting.map((answer) => answer.catch((error: Error) => error.message)))).resolves.toEqual(['again', 'again']);
  });
});
