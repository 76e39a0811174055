import { loadConfig } from '../config.js';
import { FaultPoints } from './fault-points.js';

// jest's ESM mode has no global `jest`; each module gets its own on import.meta.
const jestObject = (import.meta as unknown as { jest: typeof jest }).jest;

describe(FaultPoints.name, () => {
  // An armed point SIGKILLs its own process: here that is the jest worker (or jest itself, running in band), which
  // would end the run with no report. So every test runs with process.kill stubbed, installed before and removed
  // after each test, whether its assertions pass or not, and the fault message kept off the test output.
  let kill: jest.SpiedFunction<typeof process.kill>;

  beforeEach(() => {
    kill = jestObject.spyOn(process, 'kill').mockImplementation(() => true);
    jestObject.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });

  afterEach(() => {
    jestObject.restoreAllMocks();
  });

  it('is a no-op without PARLEY_FAULTS', () => {
    const sut = new FaultPoints({ faults: undefined, nodeEnv: 'test' });

    for (let i = 0; i < 1000; i += 1) sut.hit('record.after-commit');

    expect(kill).not.toHaveBeenCalled();
  });

  it('kills the process with SIGKILL at the armed pass of its point, and not before', () => {
    const sut = new FaultPoints({ faults: 'record.after-commit@3', nodeEnv: 'test' });

    sut.hit('record.after-commit');
    sut.hit('record.before-commit');
    sut.hit('record.after-commit');
    const killsBeforeTheArmedPass = kill.mock.calls.length;
    sut.hit('record.after-commit');

    expect(killsBeforeTheArmedPass).toBe(0);
    expect(kill).toHaveBeenCalledWith(process.pid, 'SIGKILL');
  });

  it('is refused by config in production, and never armed there', () => {
    const sut = new FaultPoints({ faults: 'record.after-commit@1', nodeEnv: 'production' });

    sut.hit('record.after-commit');

    expect(() => loadConfig({ NODE_ENV: 'production', PARLEY_FAULTS: 'record.after-commit@1' })).toThrow(/PARLEY_FAULTS/);
    expect(kill).not.toHaveBeenCalled();
  });

  it('refuses an unknown point', () => {
    expect(() => new FaultPoints({ faults: 'record.nowhere@1', nodeEnv: 'test' })).toThrow(/unknown fault point/);
  });
});
