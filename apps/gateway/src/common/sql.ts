/**
 * The rows of an `UPDATE … RETURNING` or `DELETE … RETURNING` run through TypeORM's raw `query()`,
 * which answers `[rows, rowCount]` for those commands and plain rows for every other.
 */
export function returnedRows<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}

/** Whether a query failed on a unique (or primary key) constraint, optionally a named one. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const failure = error as { code?: unknown; constraint?: unknown };
  return failure?.code === '23505' && (constraint === undefined || failure.constraint === constraint);
}
