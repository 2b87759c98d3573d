import { type Alert, type AlertKind, decodeAlert } from '../../streams/contracts/alerts.js';
import { ALERTS_WILDCARD } from '../../streams/contracts/subjects.js';
import { createConsoleLogger, RateLimitedLog } from '../../streams/util/logger.js';
import { type ConfigOverrides, resolveClientConfig } from '../config.js';
import { connectAsCli } from '../credentials.js';
import { type Colors, colors, shouldUseColor } from '../terminal.js';

export interface AlertsCommandOptions {
  json?: boolean;
}

/**
 * `cloudai alerts`: prints every alert as `serve` raises it, until Ctrl-C. Alerts are not
 * stored: this shows the ones raised while it runs (the history is in `cloudai workers` and
 * the WORKER_EVENTS stream).
 */
export async function alertsCommand(
  options: AlertsCommandOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  const nc = await connectAsCli(config, 'cloudai-alerts');
  const color = colors(shouldUseColor());
  const invalid = new RateLimitedLog(createConsoleLogger('alerts'));
  const subscription = nc.subscribe(ALERTS_WILDCARD, {
    callback: (error, msg) => {
      if (error) {
        process.stderr.write(`cloudai: cannot follow alerts: ${error.message}\n`);
        process.exitCode = 1;
        void nc.close();
        return;
      }
      const decoded = decodeAlert(msg.data);
      if (!decoded.ok) {
        invalid.warn('invalid', `ignored an invalid alert on ${msg.subject}: ${decoded.detail}`);
        return;
      }
      process.stdout.write(
        options.json ? `${JSON.stringify(decoded.value)}\n` : `${renderAlert(decoded.value, color)}\n`,
      );
    },
  });
  await nc.flush();
  // On stderr: stdout holds only alerts (one JSON document a line with --json).
  process.stderr.write(`following alerts on ${config.natsUrl} (Ctrl-C stops)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    void nc.closed().then(() => resolve());
  });
  subscription.unsubscribe();
  if (!nc.isClosed()) await nc.close();
}

const STYLE: Record<AlertKind, keyof Pick<Colors, 'red' | 'yellow' | 'green'>> = {
  'worker-inactive': 'red',
  'worker-suspect': 'yellow',
  'worker-active': 'green',
  'worker-recovered': 'green',
  'disruption-started': 'red',
  'disruption-ended': 'green',
};

/** `2026-11-27T23:46:44.190Z  worker-inactive     worker tessa is inactive: …` */
export function renderAlert(alert: Alert, color: Colors): string {
  const kind = color[STYLE[alert.alert]](alert.alert.padEnd(18));
  return `${new Date(alert.event.at).toISOString()}  ${kind}  ${alert.summary}`;
}
