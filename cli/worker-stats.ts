import { describeDrain } from '../projections/status-presentation.js';
import { type WorkerStats, workerStats } from '../projections/uptime.js';
import { uptimeFigures } from '../projections/uptime-figures.js';
import { isSchedulable, type WorkerDocument } from '../projections/worker-document.js';
import { type Colors, formatDateTime, formatDuration, renderTable } from './terminal.js';
import { STATUS_LABEL, statusPainter } from './workers-table.js';

/** A worker as `--json` prints it: the stored document, then what is computed from it at `now`. */
export type WorkerJson = WorkerDocument & { schedulable: boolean; stats: WorkerStats };

/**
 * Adds to a document just read from the read model what `--json` computes from it. In place: the
 * document is the caller's own copy, and copying 100 000 of them doubled the time of `workers --json`.
 */
export function addComputedColumns(document: WorkerDocument, now: number): WorkerJson {
  const json = document as WorkerJson;
  json.schedulable = isSchedulable(document);
  json.stats = workerStats(document, now);
  return json;
}

/**
 * A worker as `cloudai workers --json` lists it: as `addComputedColumns`, without the uptime
 * record `stats` is computed from (a quarter of the output for 100 000 workers, and nothing a
 * reader needs beside `stats`; `cloudai workers stats ID --json` shows it).
 */
export function listedWorker(document: WorkerDocument, now: number): WorkerJson {
  const json = addComputedColumns(document, now);
  // Undefined, not deleted: JSON.stringify leaves it out, and the object keeps its fast shape.
  (json as { uptime?: unknown }).uptime = undefined;
  return json;
}

/** `cloudai workers stats ID`: the worker's status, flags and uptime figures at `now`. */
export function renderWorkerStats(worker: WorkerDocument, now: number, color: Colors): string {
  const stats = workerStats(worker, now);
  const label = statusPainter(color)[worker.status](STATUS_LABEL[worker.status]);
  const heading =
    worker.status === 'removed'
      ? `${worker.workerId}  ${label} since ${formatDateTime(worker.statusSince)}: its figures stop there`
      : `${worker.workerId}  ${label} for ${formatDuration(now - worker.statusSince)}, since ${formatDateTime(worker.statusSince)}`;
  const rows = [
    [
      'registered',
      `${formatDateTime(worker.registeredAt)} (${formatDuration(now - worker.registeredAt)} ago)`,
    ],
    ['last seen', `${formatDuration(now - worker.lastHeartbeatAt)} ago`],
    ['schedulable', schedulableText(worker, now)],
    ...uptimeFigures(stats),
  ];
  // The table's header row is empty: drop it, keep the aligned rows.
  const body = renderTable(['', ''], rows).split('\n').slice(1);
  return [heading, '', ...body.map((line) => `  ${line}`)].join('\n');
}

/** Schedulable, or why not, and what lifts each reason. Decided by `isSchedulable`, the scheduler's rule. */
function schedulableText(worker: WorkerDocument, now: number): string {
  if (isSchedulable(worker)) return 'yes';
  const why: string[] = [];
  if (worker.status !== 'active') why.push(worker.status);
  if (worker.drain) {
    why.push(
      `${describeDrain(worker.drain, now)}: \`cloudai workers drain ${worker.workerId} --cancel\` ends it`,
    );
  }
  if (worker.flapping) why.push('flapping: until it stays up for the hold-down time');
  if (worker.cordoned) why.push(`cordoned: \`cloudai workers uncordon ${worker.workerId}\` lifts it`);
  return why.length > 0 ? `no (${why.join('; ')})` : 'no';
}
