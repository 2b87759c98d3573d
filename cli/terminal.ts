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

/** "850ms", "12s", "3m12s", "2h05m", "3d4h": short, and precise enough for a status table. */
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * "1h", "30m", "1h30m", "90s", "500ms", "2d": a duration as an operator writes it, in ms;
 * undefined when it is not one (or is zero).
 */
export function parseDuration(text: string): number | undefined {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text.trim()) return undefined;
  const ms = parts.reduce(
    (sum, [, amount, unit]) => sum + Number(amount) * (DURATION_UNITS_MS[unit ?? ''] ?? 0),
    0,
  );
  return ms >= 1 ? Math.round(ms) : undefined;
}

export function formatDuration(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 1_000) return `${Math.floor(ms)}ms`;
  const seconds = Math.floor(ms / 1_000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}

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
