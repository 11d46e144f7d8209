/**
 * Aligned text tables as docker prints them: a header row in capitals, columns separated by
 * at least three spaces, no trailing spaces, every row on one line.
 */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ''))));
  const lines = all.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - width(cell) + 3)))
      .join('')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

/** Display width of a cell; cells hold no tabs or newlines (they are replaced by spaces). */
function width(s: string): number {
  return [...s].length;
}

/** Makes a value safe for one table cell: newlines and tabs become spaces. */
export function cell(value: string | number | undefined): string {
  if (value === undefined) return '';
  return String(value).replace(/[\r\n\t]+/g, ' ');
}

/** Cuts text to `max` characters, ending in `…` when cut (the ERROR column). */
export function truncate(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}
