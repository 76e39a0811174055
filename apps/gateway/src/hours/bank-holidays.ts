import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One bank holiday: its local date ("YYYY-MM-DD") and name. */
export interface BankHoliday {
  date: string;
  title: string;
}

/** The bank holidays a practice closes on unless a dated exception says otherwise. */
export interface BankHolidays {
  events: readonly BankHoliday[];
  dates: ReadonlySet<string>;
}

/** Injection token of the loaded {@link BankHolidays}. */
export const BANK_HOLIDAYS = Symbol('BANK_HOLIDAYS');

// The data file stays in src/ (tsc does not copy JSON): this path is the same from src/hours and dist/hours.
const DATA_FILE = fileURLToPath(new URL('../../src/hours/bank-holidays.england-and-wales.json', import.meta.url));

/**
 * Reads the England-and-Wales bank holidays from the editable data file (gov.uk's format; see
 * docs/operations.md). A malformed file stops the gateway at boot rather than silently opening on a
 * holiday.
 */
export function loadBankHolidays(file: string = DATA_FILE): BankHolidays {
  const data = JSON.parse(readFileSync(file, 'utf8')) as { events?: unknown };
  if (!Array.isArray(data.events)) throw new Error(`${file}: no "events" list`);
  const events = data.events.map((event: unknown, index) => {
    const { date, title } = (event ?? {}) as { date?: unknown; title?: unknown };
    if (typeof date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(date) || typeof title !== 'string') {
      throw new Error(`${file}: event ${index} needs a "date" (YYYY-MM-DD) and a "title"`);
    }
    return { date, title };
  });
  events.sort((a, b) => a.date.localeCompare(b.date));
  return { events, dates: new Set(events.map((event) => event.date)) };
}
