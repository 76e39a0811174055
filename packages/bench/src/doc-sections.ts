/**
 * Sections of docs/benchmarks.md that may be measured apart from the rest: each sits between markers of its own and
 * names the commit and command it was measured with, so that a run which measured only that section rewrites only it.
 * - first-load: written by first-load.ts, a separate command; `pnpm bench` keeps it as it is.
 * - attachments: written by every `pnpm bench` that measured it, or alone by `pnpm bench --only attachments --doc`.
 */
export interface DocSection {
  begin: string;
  end: string;
}

function docSection(name: string, command: string): DocSection {
  return { begin: `<!-- ${name}:begin (${command}) -->`, end: `<!-- ${name}:end -->` };
}

export const FIRST_LOAD_SECTION = docSection('first-load', 'node packages/bench/dist/first-load.js');
export const ATTACHMENTS_SECTION = docSection('attachments', 'pnpm bench --only attachments');

/** `body` between the section's markers. */
export function markedSection(section: DocSection, body: string): string {
  return `${section.begin}\n${body}\n${section.end}`;
}

/** `doc` with `section` replaced by `body` (or inserted before "## Reproduce", or at the end). */
export function withSection(doc: string, section: DocSection, body: string): string {
  const block = markedSection(section, body);
  const begin = doc.indexOf(section.begin);
  const end = doc.indexOf(section.end);
  if (begin >= 0 && end > begin) return doc.slice(0, begin) + block + doc.slice(end + section.end.length);
  const reproduce = doc.indexOf('\n## Reproduce');
  return reproduce >= 0 ? `${doc.slice(0, reproduce)}\n${block}\n${doc.slice(reproduce)}` : `${doc}\n${block}\n`;
}

/** The body of `section` in `doc` (without its markers), or undefined when it has none. */
export function sectionOf(doc: string, section: DocSection): string | undefined {
  const begin = doc.indexOf(section.begin);
  const end = doc.indexOf(section.end);
  return begin >= 0 && end > begin ? doc.slice(begin + section.begin.length + 1, end - 1) : undefined;
}
