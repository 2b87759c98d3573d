import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TASK_TYPES, type TaskType } from '../../streams/contracts/task-events.js';
import { UserFacingError } from '../../streams/util/user-error.js';

/** Parameters of the risk-aware policy; the defaults are the original CloudAI's. */
export interface RtsParams {
  /** Runtime predictor weights: CPU, memory and GPU pressure, then worker load. */
  theta: readonly [number, number, number, number];
  /** Weight of the predicted deadline overrun (seconds). */
  alpha: number;
  /** Weight of the worker's load. */
  beta: number;
  /** Baseline runtime τ per task type, in seconds. */
  tauSeconds: Readonly<Record<TaskType, number>>;
  /** Learned preference of a task type for a worker: subtracted from the risk. */
  affinity: Readonly<Partial<Record<TaskType, Readonly<Record<string, number>>>>>;
  /** Learned distrust of a worker: added to the risk. */
  penalty: Readonly<Record<string, number>>;
}

export const DEFAULT_RTS_PARAMS: RtsParams = {
  theta: [0.1, 0.1, 0.3, 0.2],
  alpha: 10,
  beta: 1,
  tauSeconds: {
    'cpu-light': 5,
    'cpu-heavy': 15,
    'memory-heavy': 20,
    'gpu-inference': 10,
    'gpu-training': 60,
    mixed: 10,
  },
  affinity: {},
  penalty: {},
};

const weight = (max: number) => z.number().finite().min(0).max(max);

/**
 * The file layout is the original's parameters file (`Theta`, `Risk`, `AffinityMatrix`,
 * `PenaltyVector`), plus an optional `Tau` table; every part may be left out.
 */
const rtsParamsFileSchema = z
  .object({
    Theta: z
      .object({ Theta1: weight(10), Theta2: weight(10), Theta3: weight(10), Theta4: weight(10) })
      .strict()
      .partial()
      .optional(),
    Risk: z
      .object({ Alpha: weight(1_000), Beta: weight(100) })
      .strict()
      .partial()
      .optional(),
    Tau: z
      .partialRecord(
        z.enum(TASK_TYPES),
        z
          .number()
          .finite()
          .positive()
          .max(7 * 24 * 3_600),
      )
      .optional(),
    AffinityMatrix: z
      .partialRecord(z.enum(TASK_TYPES), z.record(z.string(), z.number().finite().min(-10).max(10)))
      .optional(),
    PenaltyVector: z.record(z.string(), weight(100)).optional(),
  })
  .strict();

export class RtsParamsError extends UserFacingError {
  constructor(message: string) {
    super(message);
    this.name = 'RtsParamsError';
  }
}

/** Parses a parameters file's text; `source` names it in errors. */
export function parseRtsParams(text: string, source: string): RtsParams {
  const advice = 'fix it, or start without --rts-params to use the defaults';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new RtsParamsError(
      `RTS parameters file ${source} is not valid JSON (${(error as Error).message}): ${advice}`,
    );
  }
  const parsed = rtsParamsFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(top level)';
    throw new RtsParamsError(
      `RTS parameters file ${source}: ${where}: ${issue?.message ?? 'invalid'}; ${advice}`,
    );
  }
  const file = parsed.data;
  const defaults = DEFAULT_RTS_PARAMS;
  return {
    theta: [
      file.Theta?.Theta1 ?? defaults.theta[0],
      file.Theta?.Theta2 ?? defaults.theta[1],
      file.Theta?.Theta3 ?? defaults.theta[2],
      file.Theta?.Theta4 ?? defaults.theta[3],
    ],
    alpha: file.Risk?.Alpha ?? defaults.alpha,
    beta: file.Risk?.Beta ?? defaults.beta,
    tauSeconds: { ...defaults.tauSeconds, ...file.Tau },
    affinity: file.AffinityMatrix ?? {},
    penalty: file.PenaltyVector ?? {},
  };
}

/** Reads a parameters file, or returns the defaults when no path is given. */
export function loadRtsParams(path: string | undefined): RtsParams {
  if (!path) return DEFAULT_RTS_PARAMS;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new RtsParamsError(
      `cannot read RTS parameters file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): ` +
        'fix the path, or start without --rts-params to use the defaults',
    );
  }
  return parseRtsParams(text, path);
}
