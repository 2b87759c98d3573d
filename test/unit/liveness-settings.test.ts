import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, resolveConfig } from '../../cli/config.js';
import { livenessSettingsOf } from '../../control-plane/settings.js';

test('the grace before suspicion follows the heartbeat interval unless it is set', () => {
  assert.is(resolveConfig({}, {}).suspectAfterMs, 10_000);
  assert.is(resolveConfig({}, { CLOUDAI_HEARTBEAT_INTERVAL_MS: '2000' }).suspectAfterMs, 4_000);
  const set = resolveConfig({ suspectAfterMs: 7_000 }, { CLOUDAI_HEARTBEAT_INTERVAL_MS: '2000' });
  assert.is(set.suspectAfterMs, 7_000);
});

test('the defaults the issue asks for reach the fleet', () => {
  assert.equal(livenessSettingsOf(resolveConfig({}, {})), {
    heartbeatTimeoutMs: 30_000,
    suspicion: { phiThreshold: 8, suspectAfterMs: 10_000, windowSize: 100, minSamples: 10, minStdDevMs: 500 },
    flapDamping: { threshold: 3, windowMs: 600_000, holdDownMs: 300_000 },
    disruption: { thresholdPercent: 55, minWorkers: 2 },
  });
});

test('flags beat the environment; fractions only where they make sense', () => {
  const config = resolveConfig(
    { phiThreshold: '9.5' as unknown as number },
    {
      CLOUDAI_PHI_THRESHOLD: '12',
      CLOUDAI_DISRUPTION_THRESHOLD_PERCENT: '62.5',
      CLOUDAI_FLAP_THRESHOLD: '5',
    },
  );
  assert.equal(
    [config.phiThreshold, config.disruptionThresholdPercent, config.flapThreshold],
    [9.5, 62.5, 5],
  );
  assert.throws(
    () => resolveConfig({}, { CLOUDAI_FLAP_THRESHOLD: '2.5' }),
    (error: Error) =>
      error instanceof ConfigError &&
      /CLOUDAI_FLAP_THRESHOLD must be a positive whole number of comebacks, got "2.5"/.test(error.message),
  );
});

test('settings that cannot work are refused with what to change', () => {
  assert.throws(
    () => resolveConfig({ suspectAfterMs: 30_000 }, {}),
    (error: Error) =>
      /--suspect-after-ms \/ CLOUDAI_SUSPECT_AFTER_MS, 30000 ms\) must be shorter than the heartbeat timeout \(30000 ms\)/.test(
        error.message,
      ),
  );
  assert.throws(
    () => resolveConfig({}, { CLOUDAI_DISRUPTION_THRESHOLD_PERCENT: '120' }),
    (error: Error) => /at most 100 %, got 120/.test(error.message),
  );
  assert.throws(
    () => resolveConfig({}, { CLOUDAI_PHI_THRESHOLD: '-1' }),
    (error: Error) => /CLOUDAI_PHI_THRESHOLD must be a positive number/.test(error.message),
  );
});

test.run();
