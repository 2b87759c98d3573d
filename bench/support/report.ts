import { judge } from '../targets.js';

/**
 * What a benchmark hands back: named figures, each with its same-run baseline and, where the
 * issue sets one, its target. The runner prints them for people and as one JSON line.
 */

export interface Target {
  /** As the issue states it, e.g. "≥ 0.4" or "p99 ≤ 100 ms". */
  text: string;
  /** Whether the figure meets it; undefined when this run's scale is not the target's (e.g. --quick). */
  met: boolean | undefined;
}

export interface Figure {
  /** Key in the JSON line. */
  key: string;
  label: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number };
  /** `value / baseline.value`. */
  ratio?: number;
  target?: Target;
}

// A type alias, not an interface, so that it fits the open `params` record of a report.
export type BenchParams = {
  workers: number;
  seconds: number;
  quick: boolean;
};

export interface BenchReport {
  benchmark: string;
  params: BenchParams & Record<string, number | boolean | string>;
  figures: Figure[];
  /** Context a reader needs (what the baseline is, what limited a figure). */
  notes: string[];
}

/** A count whose target is zero (lost heartbeats, false alarms), judged only at the target scale. */
export function mustBeZero(
  figure: { key: string; label: string; value: number; unit: string; baseline?: Figure['baseline'] },
  atTargetScale: boolean,
): Figure {
  return {
    ...figure,
    target: { text: '0', met: judge(atTargetScale, figure.value === 0) },
  };
}

export function formatReport(report: BenchReport): string {
  const params = Object.entries(report.params)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
  const rows = report.figures.map((figure) => [
    figure.label,
    `${formatNumber(figure.value)} ${figure.unit}`,
    figure.baseline ? `${formatNumber(figure.baseline.value)} (${figure.baseline.label})` : '',
    figure.ratio === undefined ? '' : `${formatNumber(figure.ratio)}×`,
    figure.target ? `${figure.target.text}: ${verdict(figure.target.met)}` : '',
  ]);
  const header = ['figure', 'value', 'baseline (same run)', 'ratio', 'target'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [
    `== ${report.benchmark} (${params})`,
    line(header),
    ...rows.map(line),
    ...report.notes.map((note) => `  note: ${note}`),
  ].join('\n');
}

/** The machine-readable line: `{"benchmark":…,"params":…,"figures":{key:{value,unit,…}}}`. */
export function reportJson(report: BenchReport): string {
  const figures = Object.fromEntries(
    report.figures.map((figure) => [
      figure.key,
      {
        value: figure.value,
        unit: figure.unit,
        ...(figure.baseline ? { baseline: figure.baseline.value, baselineLabel: figure.baseline.label } : {}),
        ...(figure.ratio === undefined ? {} : { ratio: figure.ratio }),
        ...(figure.target ? { target: figure.target.text, met: figure.target.met ?? null } : {}),
      },
    ]),
  );
  return JSON.stringify({ benchmark: report.benchmark, params: report.params, figures });
}

function verdict(met: boolean | undefined): string {
  if (met === undefined) return 'n/a at this scale';
  return met ? 'met' : 'NOT met';
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1_000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(value === Math.round(value) ? 0 : 3);
}
