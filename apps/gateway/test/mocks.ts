// jest's ESM mode has no global `jest`; each module gets its own on import.meta.
const jestObject = (import.meta as unknown as { jest: typeof jest }).jest;

/**
 * A stand-in for a class (a repository, a service) whose every method is a jest mock, created on
 * first use: `const repo = mockOf<SessionsRepository>(); repo.findState.mockResolvedValue(null);`.
 */
export function mockOf<T extends object>(): jest.Mocked<T> {
  const mocks = new Map<PropertyKey, jest.Mock>();
  return new Proxy({} as jest.Mocked<T>, {
    get(_target, property) {
      // Not a thenable: `await mockOf<X>()` must not hang on a mocked `then`.
      if (property === 'then') return undefined;
      if (!mocks.has(property)) mocks.set(property, jestObject.fn());
      return mocks.get(property);
    },
  });
}
