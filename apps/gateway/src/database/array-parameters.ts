import { isUuid } from './sql.js';

/*
 * Array parameters for the multi-row statements of hot paths (the record writer, the grouped opens), written for the
 * least work on both sides: pg sends an array of bytea as hex text (encoded here, parsed there) and quotes every element
 * of an array of strings. A byte-string column goes instead as ONE binary parameter, the rows' bytes back to back, cut
 * apart in SQL with `substring($n::bytea FROM start FOR length)`; UUID and integer columns as array literals joined
 * here, each value checked first.
 */

/** Byte strings as one binary parameter and the 1-based start and the length of each (NULL for a null one). */
export function packed(values: readonly (Buffer | null)[]): [Buffer, string, string] {
  const starts: (number | null)[] = [];
  const lengths: (number | null)[] = [];
  let at = 1;
  for (const value of values) {
    starts.push(value ? at : null);
    lengths.push(value ? value.length : null);
    at += value?.length ?? 0;
  }
  return [Buffer.concat(values.filter((value): value is Buffer => value !== null)), integers(starts), integers(lengths)];
}

/** A PostgreSQL array literal of UUIDs; anything else is refused rather than written into the literal. */
export function uuids(values: readonly (string | null)[]): string {
  for (const value of values) if (value !== null && !isUuid(value)) throw new TypeError(`not a UUID: ${JSON.stringify(value)}`);
  return `{${values.map((value) => value ?? 'NULL').join(',')}}`;
}

/** A PostgreSQL array literal of integers. */
export function integers(values: readonly (number | null)[]): string {
  for (const value of values) if (value !== null && !Number.isSafeInteger(value)) throw new TypeError(`not an integer: ${value}`);
  return `{${values.map((value) => value ?? 'NULL').join(',')}}`;
}
