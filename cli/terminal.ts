import { createColors } from 'picocolors';

/**
 * Colour only where a person is looking: a TTY, unless NO_COLOR is set (https://no-color.org);
 * FORCE_COLOR overrides both. picocolors alone would also colour output whenever CI is set.
 */
export function shouldUseColor(
  stream: NodeJS.WriteStream = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export type Colors = ReturnType<typeof createColors>;

export function colors(enabled: boolean): Colors {
  return createColors(enabled);
}

export { formatDuration, parseDuration } from '../streams/util/duration.js';

/** Lays out rows as aligned columns; `style` may colour a cell after it has been padded. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  style: (row: number, column: number, padded: string) => string = (_row, _column, padded) => padded,
): string {
  // A loop, not Math.max(...rows): spreading one argument per row overflows the stack at about
  // 150 000 rows.
  const widths = header.map((title) => title.length);
  for (const row of rows) {
    for (let column = 0; column < widths.length; column++) {
      widths[column] = Math.max(widths[column] ?? 0, [...(row[column] ?? '')].length);
    }
  }
  const line = (cells: readonly string[], rowIndex: number) =>
    cells
      .map((cell, column) => {
        const padded =
          column === cells.length - 1 ? cell : cell + ' '.repeat((widths[column] ?? 0) - [...cell].length);
        return rowIndex < 0 ? padded : style(rowIndex, column, padded);
      })
      .join('  ')
      .trimEnd();
  return [line(header, -1), ...rows.map((row, index) => line(row, index))].join('\n');
}

/** "12:03:04": the local time of day, for something that happened today or so. */
export function formatClock(at: number): string {
  const date = new Date(at);
  return [date.getHours(), date.getMinutes(), date.getSeconds()]
    .map((part) => String(part).padStart(2, '0'))
    .join(':');
}

/** "2026-11-27 12:03:04": local date and time. */
export function formatDateTime(at: number): string {
  const date = new Date(at);
  const day = [date.getFullYear(), date.getMonth() + 1, date.getDate()]
    .map((part) => String(part).padStart(2, '0'))
    .join('-');
  return `${day} ${formatClock(at)}`;
}

/** "1 task", "10 tasks": a count with its noun. */
export function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
