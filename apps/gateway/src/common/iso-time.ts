let lastTime = Number.NaN;
let lastText = '';

/**
 * `date.toISOString()`, remembered for the last instant asked: the entries of one record batch share their time, and
 * each writes it into its hash, its relay and its sender's ack.
 */
export function isoTime(date: Date): string {
  const time = date.getTime();
  if (time !== lastTime) {
    lastText = date.toISOString();
    lastTime = time;
  }
  return lastText;
}
