import { loadConfig } from '../config.js';
import { FaultPoints } from './fault-points.js';

// jest's ESM mode has no global `jest`; each module gets its own on import.meta.
const jestObject = (import.meta as unknown as { jest: typeof jest }).jest;

describe(FaultPoints.name, () => {
  it('is a no-op without PARLEY_FAULTS', () => {
    const kill = jestObject.spyOn(process, 'kill').mockImplementation(() => true);
    const sut = new FaultPoints({ faults: undefined, nodeEnv: 'test' });

    for (let i = 0; i < 1000; i += 1) sut.hit('record.after-commit');

    expect(kill).not.toHaveBeenCalled();
    kill.mockRestore();
  });

  it('kills the process with SIGKILL at the armed pass of its point, and not before', () => {
    const kill = jestObject.spyOn(process, 'kill').mockImplementation(() => true);
    const write = jestObject.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const sut = new FaultPoints({ faults: 'record.after-commit@3', nodeEnv: 'test' });

    sut.hit('record.after-commit');
    sut.hit('record.before-commit');
    sut.hit('record.after-commit');
    expect(kill).not.toHaveBeenCalled();
    sut.hit('record.after-commit');

    expect(kill).toHaveBeenCalledWith(process.pid, 'SIGKILL');
    kill.mockRestore();
    write.mockRestore();
  });

  it('is refused by config in production, and never armed there', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', PARLEY_FAULTS: 'record.after-commit@1' })).toThrow(/PARLEY_FAULTS/);
    expect(() => new FaultPoints({ faults: 'record.after-commit@1', nodeEnv: 'production' }).hit('record.after-commit')).not.toThrow();
  });

  it('refuses an unknown point', () => {
    expect(() => new FaultPoints({ faults: 'record.nowhere@1', nodeEnv: 'test' })).toThrow(/unknown fault point/);
  });
});
